"""Platform adapters: each turns one chat platform's updates into ``RouteInbound`` messages."""
