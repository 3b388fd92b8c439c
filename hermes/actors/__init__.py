"""The concurrent core: pykka actors (and loop-owning actors) that own all mutable state.

``start_system`` is the embedding API: it returns a running ``System``.
"""

from hermes.actors.system import System, SystemOverrides, start_system

__all__ = ["System", "SystemOverrides", "start_system"]
