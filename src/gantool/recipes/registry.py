from gantool.registry import Registry

RECIPES: Registry[type] = Registry("recipe")
