"""Kopf operator: KnowledgeSource resources → ingestion Jobs, status, and vector clean-up."""
