"""User hooks: ``$HERMES_HOME/hooks/<name>/`` scripts called for gateway events, off the actors.

``runner.HookRunner`` is the ``Address[HookEvent]`` the actors tell. ``loader`` finds and imports
the hooks, ``dispatch`` hands each event to the hooks that want it, ``calls`` wraps each call of
user code and counts, and ``threads`` holds the daemon threads user code runs on.
"""
