"""Cienty's Ray Serve applications: the self-hosted chat and embedding models."""
