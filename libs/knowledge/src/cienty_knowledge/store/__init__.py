"""Vector stores: one interface (base.VectorStore), pgvector and Weaviate behind it."""
