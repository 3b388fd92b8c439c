"""The protocol: frozen messages, value types and the small interfaces the core depends on.

Pure data and type definitions only. Nothing here performs I/O or imports another part of hermes.
"""
