"""The product version, in one place (setup.py and ``--version`` read it)."""

__version__ = "0.1.0"
