"""Recipes, one file per method, registered by name."""

from gantool.recipes.registry import RECIPES
from gantool.recipes import cgan  # noqa: F401  (registers the recipe)

__all__ = ["RECIPES"]
