"""Recipes, one file per method, registered by name."""

from gantool.recipes.registry import RECIPES
from gantool.recipes import cgan, cyclegan, encoder, pix2pix  # noqa: F401  (register the recipes)

__all__ = ["RECIPES"]
