"""Agents: the OpenAI-compatible model client, and the echo agent used without one."""
