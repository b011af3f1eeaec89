"""Embedders: the packaged MiniLM in-process by default, the Ray Serve endpoint when configured."""
