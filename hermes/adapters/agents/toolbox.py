"""The tools one turn offers its model, gathered from the handles its ``TurnContext`` carries.

Each tool group (memory, cron, messaging) offers some tools and runs
the calls to them against one handle, the turn's own: a call can only ever reach the session
whose turn made it. A FLUSH turn gets the memory tools only. Errors the model can recover from
come back as text for it, never as exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hermes.adapters.agents.cron_tools import CronTools
from hermes.adapters.agents.memory_tools import MemoryTool, memory_tool_definitions, run_memory_tool
from hermes.adapters.agents.messaging_tools import MessagingTools
from hermes.messages.agent import TurnContext, TurnPurpose
from hermes.messages.memory import MemoryHandle

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionToolParam


class ToolGroup(Protocol):
    """Some tools, bound to one turn's handle."""

    def definitions(self) -> list[ChatCompletionToolParam]:
        """The group's tools in the OpenAI ``tools`` format."""
        ...

    def offers(self, name: str) -> bool:
        """True when ``name`` is one of the group's tools."""
        ...

    async def run(self, name: str, arguments: str) -> str:
        """Run one call (``arguments`` is the model's JSON text); the result for the model."""
        ...


@dataclass(frozen=True, slots=True)
class MemoryTools:
    """``memory_profile``, ``memory_search``, ``memory_context``, ``memory_conclude``."""

    memory: MemoryHandle

    def definitions(self) -> list[ChatCompletionToolParam]:
        """The four memory tools."""
        return memory_tool_definitions()

    def offers(self, name: str) -> bool:
        """True for the memory tools' names."""
        return name in {tool.value for tool in MemoryTool}

    async def run(self, name: str, arguments: str) -> str:
        """Run one memory call on this turn's handle."""
        return await run_memory_tool(self.memory, name, arguments)


@dataclass(frozen=True, slots=True)
class Toolbox:
    """Every tool a turn offers."""

    groups: tuple[ToolGroup, ...]

    def definitions(self) -> list[ChatCompletionToolParam]:
        """All the groups' tools, in group order."""
        return [tool for group in self.groups for tool in group.definitions()]

    async def run(self, name: str, arguments: str) -> str:
        """Run one call on the group that offers ``name``."""
        for group in self.groups:
            if group.offers(name):
                return await group.run(name, arguments)
        return f"Error: there is no tool called {name!r}."


def toolbox_for(context: TurnContext) -> Toolbox | None:
    """The tools of ``context``'s turn, or None when it has none."""
    groups: list[ToolGroup] = []
    if context.memory is not None:
        groups.append(MemoryTools(context.memory))
    if context.purpose is TurnPurpose.FLUSH:
        return Toolbox(tuple(groups)) if groups else None
    if context.cron is not None:
        groups.append(CronTools(context.cron))
    if context.messaging is not None:
        groups.append(MessagingTools(context.messaging))
    return Toolbox(tuple(groups)) if groups else None
