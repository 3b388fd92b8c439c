"""Pure decisions: no threads, no I/O; policies import only hermes.messages."""
