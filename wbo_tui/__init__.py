"""WBO Console: a terminal back office for operations staff and traders."""

__version__ = "0.1.0"
