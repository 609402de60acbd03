"""Vector stores: OpenAI's vector store, vector store file and file batch objects."""
