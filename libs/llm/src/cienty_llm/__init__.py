"""The LLM client used by the conversations service: self-hosted first, Claude as fallback."""
