"""Hermes: an actor-model messaging gateway that connects an AI agent to chat platforms.

The package is layered (see ARCHITECTURE.md): ``messages`` holds the protocol, ``policies``
the pure decisions, ``actors`` the concurrent core and ``adapters`` the edges.
"""
