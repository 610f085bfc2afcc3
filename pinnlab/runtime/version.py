"""pinnlab's version, in a module of its own so that any layer can record it without importing
the package's public names (which import the layers)."""

__version__ = "0.1.0"
