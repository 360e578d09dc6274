"""A conversation as data, and everything derived from it once for every flow. Pure: no I/O.

A `Form` is a flow's questions as rows (`Question`). From the rows alone it derives the order
(a row's `when` decides whether it is asked), where "Back" leads, the "Step N of M" marker, which
answers are still missing before the summary can be confirmed, which answers the summary offers
to edit, and how an edit returns to the summary. It also applies a typed text or a pressed
button to the draft (`apply_text`, `apply_button`), so a new question is one row and its catalog
entries: no order list, back map or edit list to keep in step with it. A row that is not asked
may still be answered: by its `default` (a choice with a single possible answer, or a value the
bot already knows), set whenever the flow moves on; one that applies but is not `asked` (known, or
a sensible default) takes its `default` once and is edited on the summary, as is a `summary_line`
row. "Step N of M" shows a total only once every row that `branches` is answered ("Step N" until
then), so the total is fixed for the path.

Sub-questions (`parent` set) are not counted and not offered for editing. They come in two sorts:
the free text behind a choice's or a multi-choice's `other` (a choice asks it after "Other...",
a multi-choice opens it from its "Other" button and returns to the list), and follow-ups asked
right after their parent whenever their `follows` says so (the email's code).

While `editing` (an edit started from the summary, or a profile edit) an answer returns to the
summary once its own sub-questions are done; a form that is not `reviewed` (a profile edit) has
no summary to show, so reaching it finishes the flow, and "Back" out of the edit leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.chat.engine.rows import (
    EDITING,
    OTHER,
    Applied,
    Data,
    Kind,
    Label,
    Option,
    Preset,
    Question,
    empty,
)
from bot.core.i18n import Translator
from bot.domain.validation import Invalid, Result


@dataclass(frozen=True)
class Form:
    """A flow's questions, and what is derived from them. `catalog` prefixes the default
    catalog ids, `scope` the buttons' callback data. `card` draws the summary's answers (default:
    a line per question, labelled like its edit button); `edit_label` is the edit buttons'
    catalog id, with `{catalog}` and `{id}` filled in, and `finish_label_id` the finishing
    button's, with `{catalog}` and `{action}`. Without a `progress_id` no "Step N of M" is shown
    (`progress_open_id`, "Step N", while a branching row is unanswered); without `go_back` no
    "Back" (a short flow whose rows offer their own way out)."""

    catalog: str
    scope: str
    questions: tuple[Question, ...]
    progress_id: str | None
    progress_open_id: str | None = None
    finish_action: str = "submit"
    finish_label_id: str = "{catalog}.summary.{action}"
    go_back: bool = True
    reviewed: bool = True
    incomplete: str | None = None
    card: Label | None = None
    edit_label_id: str = "{catalog}.{id}.label"
    edit_width: int = 3
    by_id: Mapping[str, Question] = field(init=False)
    mains: tuple[str, ...] = field(init=False)
    summary: str = field(init=False)

    def __post_init__(self) -> None:
        by_id = {q.id: q for q in self.questions}
        object.__setattr__(self, "by_id", by_id)
        object.__setattr__(self, "mains", tuple(q.id for q in self.questions if q.main))
        summary = next(q.id for q in self.questions if q.kind == Kind.SUMMARY)
        object.__setattr__(self, "summary", summary)
        for q in self.questions:
            assert q.parent is None or q.parent in by_id, q.id
            assert q.other is None or by_id[q.other].parent == q.id, q.id

    def reviewing(self, reviewed: bool) -> Form:
        """The same questions, with or without a summary to review (a profile edit has none)."""
        return replace(self, reviewed=reviewed)

    def edit_label(self, q: Question) -> str:
        return self.edit_label_id.format(catalog=self.catalog, id=q.id)

    def finish_label(self) -> str:
        return self.finish_label_id.format(catalog=self.catalog, action=self.finish_action)

    def __getitem__(self, step: str) -> Question:
        return self.by_id[step]

    # ---- catalog ids --------------------------------------------------------------------------

    def prompt(self, q: Question) -> str:
        return q.prompt or f"{self.catalog}.{q.id}.ask"

    def reprompt(self, step: str, data: Data) -> str:
        q = self[step]
        if callable(q.reprompt):
            return q.reprompt(data)
        return q.reprompt or f"{self.catalog}.{q.id}.reprompt"

    # ---- order --------------------------------------------------------------------------------

    def asks(self, step: str, data: Data) -> bool:
        """The row is asked on the way through (it applies, and is not left to its default)."""
        q = self[step]
        return q.when(data) and q.asked(data)

    def first(self, data: Data) -> str:
        return next((s for s in self.mains if self.asks(s, data)), self.summary)

    def _follows(self, sub: Question, data: Data) -> bool:
        parent = self[sub.parent or ""]
        if sub.follows is not None:
            return sub.follows(data)
        return (
            parent.kind == Kind.CHOICE and parent.other == sub.id and data.get(parent.key) == OTHER
        )

    def _returns(self, q: Question) -> bool:
        """A sub-question opened by its multi-choice's "Other" button hands back to it."""
        return q.parent is not None and q.follows is None and self[q.parent].kind == Kind.MULTI

    def following(self, step: str, data: Data) -> str:
        """The question after an answer to `step`, ignoring edits."""
        q = self[step]
        if self._returns(q):
            return q.parent or step
        for sub in self.questions:
            if sub.parent == step and not self._returns(sub) and self._follows(sub, data):
                return sub.id
        base = q.parent or step
        if base == self.summary:
            return self.summary
        later = self.mains[self.mains.index(base) + 1 :]
        return next((s for s in later if self.asks(s, data)), self.summary)

    def settle_defaults(self, data: Data) -> None:
        """Every main question not asked takes its `default` (in order, so a later `when` sees
        an earlier default): an answer with a single possibility is given, not asked. A row that
        applies but is not asked takes it only once, so an edit on the summary stays."""
        for s in self.mains:
            q = self[s]
            if q.default is None:
                continue
            if not q.when(data) or (not q.asked(data) and q.key not in data):
                data[q.key] = q.default(data)

    def advance(self, step: str, data: Data) -> str:
        """`following`, except that an edit returns to the summary once its sub-questions are.
        Questions not asked take their defaults first."""
        self.settle_defaults(data)
        nxt = self.following(step, data)
        if data.get(EDITING) and self[nxt].main and not self._returns(self[step]):
            data.pop(EDITING, None)
            return self.summary
        return nxt

    def previous(self, step: str, data: Data) -> str | None:
        """Where "Back" leads; None out of the flow (its first question, or a profile edit)."""
        q = self[step]
        if q.parent is not None:
            return q.parent
        if data.get(EDITING):
            return self.summary if self.reviewed else None
        base = self.mains.index(step) if step in self.mains else len(self.mains)
        return next((s for s in reversed(self.mains[:base]) if self.asks(s, data)), None)

    def progress(self, step: str, data: Data) -> tuple[int, int]:
        """ "Step N of M": the main questions asked; a sub-question counts as its parent."""
        steps = [s for s in self.mains if self.asks(s, data)]
        target = self[step].parent or step
        return (steps.index(target) + 1 if target in steps else len(steps)), len(steps)

    def path_known(self, data: Data) -> bool:
        """Every asked row that branches is answered: the total can no longer change."""
        branching = (self[s] for s in self.mains if self[s].branches and self.asks(s, data))
        return all(self.count(q, data) > 0 for q in branching)

    def presets(self, q: Question, data: Data, tr: Translator) -> list[Preset]:
        return q.presets(data, tr) if q.presets is not None and q.kind == Kind.MULTI else []

    def count(self, q: Question, data: Data) -> int:
        """How many answers a question has; a MULTI's separate "other" text counts as one."""
        value = data.get(q.key)
        number = len(value) if isinstance(value, list) else int(not empty(value))
        if q.other is not None and q.kind == Kind.MULTI:
            sub = self[q.other]
            number += int(sub.key != q.key and not empty(data.get(sub.key)))
        return number

    def missing(self, data: Data) -> str | None:
        """The first question that applies and still lacks an answer."""
        return next(
            (
                s
                for s in self.mains
                if not self[s].optional and self[s].when(data) and self.count(self[s], data) == 0
            ),
            None,
        )

    def editable(self, data: Data) -> list[Question]:
        return [
            self[s]
            for s in self.mains
            if self[s].editable and (self[s].when(data) or self[s].summary_line)
        ]

    # ---- answers ------------------------------------------------------------------------------

    def options(self, q: Question, data: Data, tr: Translator) -> list[Option]:
        """The row's options, plus a MULTI's own typed entries (`#0`, `#1`...) when its "other"
        text goes into the same list (the supervisor's own learning goals)."""
        listed = q.options(data, tr) if q.options else []
        return listed + [Option(f"#{i}", own) for i, own in enumerate(self._own(q, data))]

    def _own(self, q: Question, data: Data) -> list[str]:
        if q.kind != Kind.MULTI or q.other is None or self[q.other].key != q.key:
            return []
        # A list that mixes codes and typed text marks its codes with "@" (`@search`).
        return [v for v in data.get(q.key, []) if isinstance(v, str) and not v.startswith("@")]

    def current(self, q: Question, data: Data) -> str | None:
        value = data.get(q.key)
        if value is None:
            return None
        return q.code(value) if q.code else str(value)

    def label(self, q: Question, data: Data, tr: Translator) -> str:
        """The answer as a person reads it; "" when there is none."""
        if q.label is not None:
            return q.label(data, tr)
        value = data.get(q.key)
        if empty(value):
            return ""
        if q.kind in (Kind.CHOICE, Kind.MULTI):
            names = {o.code: o.label for o in self.options(q, data, tr)}
            if q.kind == Kind.CHOICE:
                return names.get(self.current(q, data) or "", str(value))
            shown = [names.get(str(v), str(v)) for v in value or []]
            if q.other is not None and self[q.other].key != q.key and data.get(self[q.other].key):
                shown.append(str(data[self[q.other].key]))
            return ", ".join(shown)
        return str(value)

    def _set(self, q: Question, data: Data, value: Any) -> None:
        if q.changed is not None and data.get(q.key) != value:
            q.changed(data, value)
        data[q.key] = value

    def accept(self, step: str, data: Data, answer: str | None = None) -> Applied:
        return Applied(self.advance(step, data), answer=answer, accepted=True)

    def _stay(self, step: str, notice: str, **args: Any) -> Applied:
        return Applied(step, notice=notice, args=args)

    def _refuse(self, step: str, refusal: Invalid) -> Applied:
        quoted = {} if refusal.quoted is None else {"value": refusal.quoted}
        return self._stay(step, refusal.message_id, **quoted)

    def parse(self, q: Question, data: Data, text: str) -> Result | None:
        """The row's verdict on a typed text; None when it takes none."""
        if q.parse_in is not None:
            return q.parse_in(data, text)
        return q.parse(text) if q.parse is not None else None

    def apply_text(self, step: str, data: Data, text: str, tr: Translator) -> Applied:
        q = self[step]
        if q.kind == Kind.CONTACT:
            if q.skip and text.strip() == tr(self.skip_label(q)):
                data[q.key] = None
                return self.accept(step, data)
            if text.strip() == tr("btn.back"):
                return self.back(step, data)
        result = self.parse(q, data, text) if q.kind in (Kind.TEXT, Kind.CONTACT) else None
        if result is None:
            return self._stay(step, self.reprompt(step, data))
        if isinstance(result, Invalid):
            return self._refuse(step, result)
        parent = self[q.parent] if q.parent else None
        if parent is not None and parent.other == step and parent.key == q.key:
            listed = list(data.get(q.key, []))
            if parent.maximum is not None and len(listed) >= parent.maximum:
                return Applied(parent.id, notice=parent.full)
            data[q.key] = [*listed, result.value]
        else:
            if parent is not None and parent.other == step and parent.kind == Kind.CHOICE:
                self._set(parent, data, OTHER)
            self._set(q, data, q.store(result.value) if q.store else result.value)
        return self.accept(step, data, result.value)

    def apply_contact(self, step: str, data: Data, phone: str, own: bool) -> Applied:
        """A shared contact card: only the person's own, and only where a contact is asked."""
        q = self[step]
        if q.kind != Kind.CONTACT or not q.typed:
            return self._stay(step, self.reprompt(step, data))
        if not own:
            return self._stay(step, f"{self.catalog}.{step}.not_yours")
        result = self.parse(q, data, phone if phone.startswith("+") else "+" + phone)
        if result is None:
            return self._stay(step, self.reprompt(step, data))
        if isinstance(result, Invalid):
            return self._refuse(step, result)
        data[q.key] = result.value
        return self.accept(step, data)

    def back(self, step: str, data: Data) -> Applied:
        target = self.previous(step, data)
        return Applied(step, left=True) if target is None else Applied(target)

    def apply_button(
        self, step: str, data: Data, action: str, value: str, tr: Translator
    ) -> Applied:
        q = self[step]
        offered = {o.code: o.label for o in self.options(q, data, tr)}
        codes = set(offered)
        answered = self.count(q, data) > 0
        if action == "back" and q.kind != Kind.SUMMARY and self.go_back:
            return self.back(step, data)
        if action == "skip" and q.skip:
            data[q.key] = None
            return self.accept(step, data)
        if action == "keep" and answered and q.kind in (Kind.TEXT, Kind.CONTACT):
            return self.accept(step, data, self.label(q, data, tr))
        if action == "pick" and q.kind == Kind.CHOICE and value in codes:
            self._set(q, data, q.store(value) if q.store else value)
            return self.accept(step, data, self.label(q, data, tr))
        if action == "pick" and q.kind == Kind.TEXT and value in codes:
            # A typed question's buttons are its common answers: pressed is as typed.
            applied = self.apply_text(step, data, value, tr)
            if applied.accepted:
                applied.answer = offered[value]
            return applied
        if action == "toggle" and q.kind == Kind.MULTI and value in codes:
            return self._toggle(q, data, value, list(offered))
        if action == "set" and (preset := self._preset(q, data, tr, value)) is not None:
            self._set(q, data, list(preset.values))
            data.pop(f"{q.key}_all", None)
            return self.accept(step, data, self.label(q, data, tr))
        if action in ("more", "less") and q.short is not None:
            data[f"{q.key}_all"] = action == "more"
            return Applied(step, redraw=True)
        if action == "other" and q.kind == Kind.MULTI and q.other is not None:
            return Applied(q.other)
        if action == "done" and q.kind == Kind.MULTI:
            if self.count(q, data) < q.minimum:
                return self._stay(step, q.none or f"{self.catalog}.multi.none")
            data.pop(f"{q.key}_all", None)
            return self.accept(step, data, self.label(q, data, tr))
        if action == "edit" and q.kind == Kind.SUMMARY and value in self.mains:
            data[EDITING] = True
            return Applied(value)
        if action == self.finish_action and q.kind == Kind.SUMMARY:
            if (gap := self.missing(data)) is not None:
                data[EDITING] = True
                return Applied(gap, notice=self.incomplete)
            return Applied(step, finished=True)
        return self._stay(step, "btn.stale")

    def _preset(self, q: Question, data: Data, tr: Translator, code: str) -> Preset | None:
        return next((p for p in self.presets(q, data, tr) if p.code == code), None)

    def _toggle(self, q: Question, data: Data, code: str, order: list[str]) -> Applied:
        chosen = list(data.get(q.key, []))
        own = self._own(q, data)
        if code.startswith("#") and code[1:].isdigit() and int(code[1:]) < len(own):
            chosen.remove(own[int(code[1:])])  # one's own typed entry: a tap removes it
        elif code in chosen:
            chosen.remove(code)
        elif q.maximum is not None and len(chosen) >= q.maximum:
            return self._stay(q.id, q.full or "btn.stale")
        else:
            chosen.append(code)
        if q.ordered:
            chosen.sort(key=lambda c: order.index(c) if c in order else len(order))
        data[q.key] = chosen
        return Applied(q.id, redraw=True)

    def skip_label(self, q: Question) -> str:
        return q.skip_label or f"{self.catalog}.skip"
