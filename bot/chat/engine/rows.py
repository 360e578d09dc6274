"""A flow's questions as rows, and what an answer did: the vocabulary `bot.chat.engine.form`
derives everything from. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from bot.chat.engine.context import Ctx
from bot.core.i18n import Translator
from bot.domain.validation import Result

Data = dict[str, Any]
Predicate = Callable[[Data], bool]
EDITING: Final = "editing"
OTHER: Final = "other"  # the choice code that leads to a choice's free-text sub-question


class Kind(StrEnum):
    TEXT = "text"  # typed text, checked by `parse`
    CHOICE = "choice"  # one of the options
    MULTI = "multi"  # any of the options (toggles), then "Done"
    CONTACT = "contact"  # typed text or the shared contact card, from a reply keyboard
    SUMMARY = "summary"  # the answers, an edit button each, and the finishing button


@dataclass(frozen=True)
class Option:
    code: str
    label: str


Options = Callable[[Data, Translator], list[Option]]
Label = Callable[[Data, Translator], str]
Extra = Callable[[Data, Translator], list[list[tuple[str, str]]]]  # rows of (label, action)
Focus = Callable[[Data, Translator], tuple[str, str] | None]


@dataclass(frozen=True)
class Preset:
    """A MULTI's one-tap answer: a whole list at once ("use these", "spring")."""

    code: str
    label: str
    values: tuple[Any, ...]


Presets = Callable[[Data, Translator], list[Preset]]


@dataclass
class Applied:
    """What an answer did: the step to show next, or the same step with a notice."""

    step: str
    notice: str | None = None  # a catalog id
    args: dict[str, Any] = field(default_factory=dict)  # the notice's placeholders
    redraw: bool = False  # a toggle: the same question drawn again in place
    finished: bool = False  # the flow's finishing button (or a profile edit reaching the end)
    left: bool = False  # "Back" out of the flow (first question, or out of a profile edit)
    answer: str | None = None  # the answer as echoed under its (closed) question
    accepted: bool = False  # an answer was taken (not back, edit, other, or a refusal)
    mail: bool = False  # mail was queued: wake the sender


Check = Callable[[Ctx, str], Awaitable[Applied]]  # typed text checked with I/O (a code)
Action = Callable[[Ctx, str], Awaitable[Applied]]  # a row's own button (resend a code...)
Enter = Callable[[Ctx], Awaitable[Applied | None]]  # asked after an answer (send a code...)


def _always(data: Data) -> bool:
    return True


def empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


@dataclass(frozen=True)
class Question:
    """One question. Only `id`, `key` and `kind` are required; the rest has defaults that suit
    most questions. Catalog ids default to `<catalog>.<id>.ask` / `.reprompt`."""

    id: str
    key: str
    kind: Kind
    options: Options | None = None
    parse: Callable[[str], Result] | None = None
    parse_in: Callable[[Data, str], Result] | None = None  # a parse that reads earlier answers
    when: Predicate = _always  # applies at all
    asked: Predicate = _always  # asked on the way through (else its default, edited on the card)
    default: Callable[[Data], Any] | None = None  # the answer while not asked
    branches: bool = False  # its answer decides which later rows apply
    presets: Presets | None = None  # a MULTI's one-tap whole answers, above its toggles
    ordered: bool = False  # a MULTI keeps its answers in its options' order
    optional: bool = False  # not needed to finish; "Skip" offered (unless `skippable` is off)
    skippable: bool = True  # False: the options themselves say "none" (no "Skip" button)
    minimum: int = 1  # a MULTI's least number of answers ("other" counts as one)
    maximum: int | None = None  # a MULTI's most
    short: int | None = None  # a MULTI shows this many options until "More"
    other: str | None = None  # the free-text sub-question behind "Other"
    parent: str | None = None  # a sub-question's question
    follows: Predicate | None = None  # a follow-up: asked after its parent when true
    prompt: str | None = None
    reprompt: str | Callable[[Data], str] | None = None
    text: Label | None = None  # the prompt, when it shows answers (the default: `prompt`)
    label: Label | None = None  # the answer as shown (default: the options' or the value)
    echo: bool = True  # the answer is echoed under its closed question
    editable: bool = True  # the summary offers an edit button (main questions only)
    keep: bool = True  # typed questions offer "Keep current" once answered
    width: int = 2  # option buttons per row
    store: Callable[[str], Any] | None = None  # a choice's code or parsed text -> stored value
    code: Callable[[Any], str] | None = None  # the stored value -> its choice's code
    changed: Callable[[Data, Any], None] | None = None  # (data, new value): clear what depended
    extra: Extra | None = None  # the row's own buttons, under its options
    actions: Mapping[str, Action] = field(default_factory=dict)
    check: Check | None = None
    enter: Enter | None = None
    skip_label: str | None = None
    other_label: str | None = None
    full: str | None = None  # notice when a MULTI is at `maximum`
    none: str | None = None  # notice for "Done" with too few answers
    on_card: bool = False  # on the summary even when not asked (an answer set beforehand)
    focus: Focus | None = None  # a summary's one edit offered first: (label, step), or None
    # Not asked (`when` false) yet edited from the summary: a default the person changes there.
    summary_line: bool = False

    @property
    def main(self) -> bool:
        return self.parent is None and self.kind != Kind.SUMMARY

    @property
    def typed(self) -> bool:
        """Takes typed text (a TEXT or CONTACT row with a parse)."""
        return self.parse is not None or self.parse_in is not None

    @property
    def skip(self) -> bool:
        """Offers a "Skip" button."""
        return self.optional and self.skippable
