"""Integrations with generation frameworks (transformers today)."""
