"""Cross-cutting code shared by every Cienty service."""
