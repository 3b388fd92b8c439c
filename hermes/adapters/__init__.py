"""The edges: they import hermes.messages and hermes.config, never hermes.actors."""
