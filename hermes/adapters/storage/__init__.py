"""Durable-state adapters: they import hermes.messages and hermes.config only."""
