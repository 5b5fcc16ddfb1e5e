"""Recipes, one file per method, registered by name."""

from gantool.recipes.registry import RECIPES
from gantool.recipes import cgan, cut, cyclegan, encoder, gan, pix2pix  # noqa: F401  (register the recipes)

__all__ = ["RECIPES"]
