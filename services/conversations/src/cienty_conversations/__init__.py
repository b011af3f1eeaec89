"""Cienty conversations: the customer-service agent and the conversations around it."""
