"""What a supervisor changed in a returned task before submitting it again, as the coordinators
read it: a line per changed answer, old → new for short answers and "changed" for long text
(a description or learning goals would bury the list). Pure: no I/O."""

from __future__ import annotations

from typing import Any, Final

from markupsafe import Markup

from bot.chat.flows.task.steps import FORM
from bot.core.i18n import Translator

LONG_KEYS: Final = frozenset({"description", "learning_goals"})
SHORT: Final = 60  # longer answers are said to have changed, not quoted


def changes(old: dict[str, Any], new: dict[str, Any], tr: Translator) -> Markup:
    """The changed answers in `tr`'s language, each value escaped by the catalog."""
    lines: list[str] = []
    for step in FORM.mains:
        q = FORM[step]
        if not (q.when(old) or q.when(new)):
            continue
        before = FORM.label(q, old, tr) if q.when(old) else ""
        after = FORM.label(q, new, tr) if q.when(new) else ""
        if before == after:
            continue
        name = tr(FORM.edit_label(q))
        if q.key in LONG_KEYS or max(len(before), len(after)) > SHORT:
            lines.append(tr("coord.resubmitted.changed", field=name))
        else:
            lines.append(
                tr("coord.resubmitted.line", field=name, old=before or "—", new=after or "—")
            )
    return Markup("\n".join(lines or [tr("coord.resubmitted.none")]))
