"""Embeddings providers behind one interface (``base.Embedder``)."""
