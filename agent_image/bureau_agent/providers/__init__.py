"""LLM provider adapters behind one ``Model`` interface (``base``)."""
