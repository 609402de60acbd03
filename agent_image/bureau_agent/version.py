"""The agent's version (kept out of ``__init__`` so an editable namespace install still sees it)."""

__version__ = "0.1.0"
