"""Cienty's WhatsApp gateway: the Business Cloud API in (webhooks) and out (Graph API)."""
