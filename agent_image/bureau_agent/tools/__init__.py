"""Tools the model may call: the interface (``base``), the registry and the built-ins."""
