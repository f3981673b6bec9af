"""The one build step pyproject.toml cannot state: the catalog package ``zoo_catalog`` carries data files only.

pyproject.toml maps ``zoo_catalog`` to the repository's top level so that ``registry.yaml``, ``recipes/`` and
``weights/`` stay where the project keeps them. setuptools then takes every ``*.py`` of that folder as a module
of the package, which would install ``hubconf.py`` (and this file) as ``zoo_catalog/hubconf.py``; the build_py
below leaves the modules of ``zoo_catalog`` out, and its data files in.
"""

from __future__ import annotations

from setuptools import setup
from setuptools.command.build_py import build_py


class CatalogDataOnly(build_py):
    """``build_py`` that builds no Python module of the ``zoo_catalog`` packages."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        """The package's modules, none for ``zoo_catalog`` and its subpackages."""
        if package == "zoo_catalog" or package.startswith("zoo_catalog."):
            return []
        return super().find_package_modules(package, package_dir)


setup(cmdclass={"build_py": CatalogDataOnly})
