"""The agent used when no model is configured: it says so, then echoes the user.

It lets the gateway run end to end on the embedded defaults, and tells the person
chatting how to configure a real model. It does no I/O. A FLUSH turn (the session is
ending) has nothing to do without a model, so it ends at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hermes.messages.agent import TurnContext, TurnPurpose, TurnResult

if TYPE_CHECKING:
    from hermes.messages.ports import DeltaSink

NO_MODEL_NOTICE: Final = (
    "No model is configured, so I can only echo you. Set HERMES_MODEL (and "
    "OPENAI_BASE_URL / OPENAI_API_KEY for a non-OpenAI endpoint), or `model:` in "
    "$HERMES_HOME/config.yaml, then restart the gateway."
)
FLUSH_SKIPPED: Final = "(nothing to save: no model is configured)"


class EchoAgent:
    """Answers every reply turn with the no-model notice and the user's own words."""

    @property
    def description(self) -> str:
        """What this agent is, for the start-up log and status."""
        return "echo (no model configured)"

    async def run_turn(self, context: TurnContext, on_delta: DeltaSink | None) -> TurnResult:
        """Reply with the notice and the inputs, streaming it in two pieces if asked.

        A FLUSH turn returns ``FLUSH_SKIPPED`` at once and streams nothing.
        """
        if context.purpose is TurnPurpose.FLUSH:
            return TurnResult(text=FLUSH_SKIPPED)
        echoed = "\n\n".join(context.inputs)
        pieces = (NO_MODEL_NOTICE, f"\n\nYou said: {echoed}")
        if on_delta is not None:
            for piece in pieces:
                on_delta(piece)
        return TurnResult(text="".join(pieces))

    async def aclose(self) -> None:
        """Nothing to release."""
