"""Built-in zoo plugins, installed as ``zoo_plugins``; each module is registered through the ``zoo`` entry-point
group."""
