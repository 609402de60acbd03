"""Retrieval: chunking, embeddings, the LanceDB chunk index and hybrid search for file_search."""
