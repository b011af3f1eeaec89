"""Cienty's knowledge base: documents in, cited chunks out."""
