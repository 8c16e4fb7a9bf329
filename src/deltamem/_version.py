"""The package version (a module of its own, so that modules needing it do not import the package facade)."""

__version__ = "0.1.0"
