"""Bureau's desk agent: runs inside a desk VM (or standalone) and serves the assistant."""

__version__ = "0.1.0"
