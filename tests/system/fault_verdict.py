"""Judging a fault-injection run: which bot message answers which user message, and the counts.

Pure functions over what the fake Telegram recorded and what the gateway logged; no I/O.

Every user message of a run carries a unique token (``msg c07-0003``: chat 7, its 3rd message).
A bot message answers the user message its ``reply_parameters`` name, else every user message
of its chat whose token it quotes: the fake model echoes the text (``echo: msg c07-0003``) and
its injected failures quote it too, so the error notice a failed turn sends names its message
even in a DM, where the gateway does not reply-quote. A bot message that is one of the notices
that answer nothing (``notice_texts``: "yours is next", "restarting") is not an outcome; one that
names no user message is "unattributed".

Per user message: no outcome is *lost*; n > 1 outcomes are n - 1 extras, of which as many as
the gateway logged ``delivery resend:`` lines for that message are *resent after a crash*
(Telegram has no idempotency key, so a reply accepted just before a kill -9 and never recorded
is sent again) and the rest are *duplicated*. A message whose first outcome came before the
first outcome of an earlier message of the same chat is *out of order*.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

TOKEN: Final = re.compile(r"\bc(\d{2,})-(\d{4,})\b")
RESEND: Final = re.compile(r"delivery resend: id=(\S+) chat=(\S+) in_reply_to=(\S+)")
ANSWER_PREFIX: Final = "echo: "
EXAMPLES: Final = 5
"""How many tokens a verdict keeps as examples of each kind of failure."""


def token(chat: int, seq: int) -> str:
    """The token of the ``seq``-th message (from 1) of the run's ``chat``-th chat (from 0)."""
    return f"c{chat:02d}-{seq:04d}"


def message_text(chat: int, seq: int) -> str:
    """What the person types: unique in the run, in order within its chat."""
    return f"msg {token(chat, seq)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage:
    """A message a person sent in the run."""

    chat_id: int
    token: str
    seq: int
    """Its place in its chat, from 1."""
    message_id: int
    """Telegram's id of the message in its chat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BotMessage:
    """A message the bot got Telegram to accept, in the order Telegram accepted them."""

    chat_id: int
    text: str
    reply_to: int | None = None
    """The message id its ``reply_parameters`` name, if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resend:
    """A ``delivery resend:`` line of the gateway's log."""

    chat_id: str
    in_reply_to: str
    """As logged: ``<chat>:<message id>`` for Telegram (or ``None``)."""

    @classmethod
    def parse(cls, log: str) -> list[Resend]:
        """Every resend line in ``log``."""
        return [cls(chat_id=m[2], in_reply_to=m[3]) for m in RESEND.finditer(log)]

    def key(self) -> tuple[int, int] | None:
        """(chat id, message id) of the message it answers, if it names one."""
        chat, _, number = self.in_reply_to.rpartition(":")
        chat = chat or self.chat_id
        if not number.isdigit() or not chat.lstrip("-").isdigit():
            return None
        return int(chat), int(number)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What a run's users got (module doc for the definitions)."""

    messages: int
    answers: int
    """Outcomes that are the model's answer (``echo: ...``)."""
    error_notices: int
    """Outcomes that are a notice naming the message (a failed turn)."""
    lost: tuple[str, ...]
    duplicated: int
    resent_after_crash: int
    out_of_order: tuple[str, ...]
    notices: int
    unattributed: tuple[str, ...]
    """Texts of bot messages that answer no user message and are no known notice."""
    duplicated_examples: tuple[str, ...] = field(default=())

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing duplicated, nothing out of order, nothing unexplained."""
        return not (self.lost or self.duplicated or self.out_of_order or self.unattributed)

    def describe(self) -> str:
        """One line with the counts and a few examples of each failure."""
        parts = [
            f"{self.messages} messages",
            f"lost {len(self.lost)}",
            f"duplicated {self.duplicated}",
            f"resent-after-crash {self.resent_after_crash}",
            f"out of order {len(self.out_of_order)}",
            f"answers {self.answers}",
            f"error notices {self.error_notices}",
            f"notices {self.notices}",
            f"unattributed {len(self.unattributed)}",
        ]
        examples = [
            (name, values[:EXAMPLES])
            for name, values in (
                ("lost", self.lost),
                ("duplicated", self.duplicated_examples),
                ("out of order", self.out_of_order),
                ("unattributed", self.unattributed),
            )
            if values
        ]
        return "; ".join(parts) + "".join(f"\n  {name}: {list(v)}" for name, v in examples)


class Attribution:
    """Which bot messages answer which user messages; fed incrementally (``add``)."""

    def __init__(self, users: Iterable[UserMessage], notice_texts: Iterable[str]) -> None:
        """Know the run's ``users`` (more may be added) and the texts that are no outcome."""
        self._by_token: dict[tuple[int, str], UserMessage] = {}
        self._by_id: dict[tuple[int, int], UserMessage] = {}
        self._notices = frozenset(text.strip() for text in notice_texts)
        self.outcomes: dict[str, list[int]] = {}
        """Token -> the indexes (in bot order) of the bot messages that answer it."""
        self.answers = self.error_notices = self.notices = 0
        self.unattributed: list[str] = []
        self.seen = 0
        """How many bot messages were added."""
        for user in users:
            self.know(user)

    def know(self, user: UserMessage) -> None:
        """Add a user message of the run."""
        self._by_token[(user.chat_id, user.token)] = user
        self._by_id[(user.chat_id, user.message_id)] = user

    def add(self, bots: Sequence[BotMessage]) -> None:
        """Attribute the bot messages of ``bots`` not seen yet (``bots`` only grows)."""
        for index in range(self.seen, len(bots)):
            self._attribute(index, bots[index])
        self.seen = max(self.seen, len(bots))

    def answered(self, user: UserMessage) -> bool:
        """True when ``user`` has an outcome."""
        return bool(self.outcomes.get(user.token))

    def _attribute(self, index: int, bot: BotMessage) -> None:
        if bot.text.strip() in self._notices:
            self.notices += 1
            return
        quoted = self._by_id.get((bot.chat_id, bot.reply_to)) if bot.reply_to else None
        targets = [quoted] if quoted is not None else self._quoted(bot)
        if not targets:
            self.unattributed.append(bot.text)
            return
        if bot.text.startswith(ANSWER_PREFIX):
            self.answers += 1
        else:
            self.error_notices += 1
        for user in targets:
            self.outcomes.setdefault(user.token, []).append(index)

    def _quoted(self, bot: BotMessage) -> list[UserMessage]:
        found = (self._by_token.get((bot.chat_id, m.group())) for m in TOKEN.finditer(bot.text))
        return list(dict.fromkeys(user for user in found if user is not None))


def judge(
    users: Sequence[UserMessage],
    bots: Sequence[BotMessage],
    resends: Iterable[Resend],
    notice_texts: Iterable[str],
) -> Verdict:
    """The verdict on a run (module doc)."""
    attribution = Attribution(users, notice_texts)
    attribution.add(bots)
    resent = Counter(key for key in (r.key() for r in resends) if key is not None)
    lost, duplicated_examples = [], []
    duplicated = explained = 0
    for user in users:
        count = len(attribution.outcomes.get(user.token, ()))
        if count == 0:
            lost.append(user.token)
            continue
        extra = count - 1
        excused = min(extra, resent[(user.chat_id, user.message_id)])
        explained += excused
        if extra > excused:
            duplicated += extra - excused
            duplicated_examples.append(user.token)
    return Verdict(
        messages=len(users),
        answers=attribution.answers,
        error_notices=attribution.error_notices,
        lost=tuple(lost),
        duplicated=duplicated,
        resent_after_crash=explained,
        out_of_order=tuple(_out_of_order(users, attribution.outcomes)),
        notices=attribution.notices,
        unattributed=tuple(attribution.unattributed),
        duplicated_examples=tuple(duplicated_examples),
    )


def _out_of_order(users: Sequence[UserMessage], outcomes: dict[str, list[int]]) -> list[str]:
    """Tokens whose first outcome came before that of an earlier message of their chat."""
    first = {tok: indexes[0] for tok, indexes in outcomes.items() if indexes}
    chats: dict[int, list[UserMessage]] = {}
    for user in users:
        chats.setdefault(user.chat_id, []).append(user)
    late: list[str] = []
    for chat_users in chats.values():
        answered = sorted((u for u in chat_users if u.token in first), key=lambda u: u.seq)
        latest_before = -1  # the latest first-outcome among the earlier messages so far
        for user in answered:
            if first[user.token] < latest_before:
                late.append(user.token)
            latest_before = max(latest_before, first[user.token])
    return late
