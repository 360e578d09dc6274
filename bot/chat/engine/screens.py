"""Any question of any form as a `Screen`: one drawing for every flow, so a new question needs
no screen code. The row says what is drawn (its options, its own extra buttons); the form says
how the marker and the summary read."""

from __future__ import annotations

from markupsafe import Markup, escape

from bot.chat.engine.form import Form
from bot.chat.engine.rows import EDITING, Data, Kind, Question
from bot.chat.ui import Button, KeyButton, Screen
from bot.core.i18n import Translator
from bot.domain.signing import Callback


def callback(form: Form, step: str, action: str, value: str = "") -> Callback:
    return Callback(form.scope, step, action, value)


def rows(buttons: list[Button], width: int) -> list[list[Button]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def mark(selected: bool, label: str) -> str:
    return f"✅ {label}" if selected else label


def screen(
    form: Form, step: str, data: Data, tr: Translator, *, notice: str | None = None
) -> Screen:
    """The question at `step`; `notice` (already translated) goes on top when given."""
    q = form[step]
    top = f"{notice}\n\n" if notice else ""
    if q.kind == Kind.SUMMARY:
        return _summary(form, data, tr, top)
    header = ""
    if form.progress_id is not None and not data.get(EDITING):  # an edit is one question
        number, total = form.progress(step, data)
        if form.progress_open_id is not None and not form.path_known(data):
            header = tr(form.progress_open_id, step=number) + "\n"
        else:
            header = tr(form.progress_id, step=number, total=total) + "\n"
    text = q.text(data, tr) if q.text is not None else tr(form.prompt(q))
    result = Screen(top + header + text)
    if q.kind == Kind.CHOICE or (q.kind == Kind.TEXT and q.options is not None):
        current = form.current(q, data)
        options = form.options(q, data, tr)
        result.buttons += rows(
            [
                Button(mark(o.code == current, o.label), callback(form, step, "pick", o.code))
                for o in options
            ],
            q.width,
        )
    elif q.kind == Kind.MULTI:
        _multi(form, q, data, tr, result)
    result.buttons += _extra(form, q, data, tr)
    if q.kind == Kind.CONTACT:
        last = [KeyButton(tr(form.skip_label(q)))] if q.skip else []
        back = [KeyButton(tr("btn.back"))] if form.go_back else []
        result.keyboard = [
            [KeyButton(tr(f"{form.catalog}.{q.id}.share"), contact=True)],
            [*last, *back],
        ]
        return result
    if nav := _nav(form, q, data, tr):
        result.buttons.append(nav)
    return result


def _extra(form: Form, q: Question, data: Data, tr: Translator) -> list[list[Button]]:
    """The row's own buttons (resend a code, cancel...), acted on by its `actions`."""
    if q.extra is None:
        return []
    return [
        [Button(label, callback(form, q.id, action)) for label, action in row]
        for row in q.extra(data, tr)
    ]


def _multi(form: Form, q: Question, data: Data, tr: Translator, result: Screen) -> None:
    result.buttons += rows(
        [Button(p.label, callback(form, q.id, "set", p.code)) for p in form.presets(q, data, tr)],
        2,
    )
    chosen = {str(v) for v in data.get(q.key, [])}
    options = form.options(q, data, tr)
    own = {o.code for o in options if o.code.startswith("#")}
    visible = options
    if q.short is not None and not data.get(f"{q.key}_all"):
        # Chosen options stay visible on the short list, so a toggle never hides itself.
        visible = options[: q.short] + [o for o in options[q.short :] if o.code in chosen]
    result.buttons += rows(
        [
            Button(
                mark(o.code in chosen or o.code in own, o.label),
                callback(form, q.id, "toggle", o.code),
            )
            for o in visible
        ],
        q.width,
    )
    other: list[Button] = []
    if q.other is not None:
        sub = form[q.other]
        typed = sub.key != q.key and bool(data.get(sub.key))
        label = tr(q.other_label or f"{form.catalog}.{q.id}.other")
        other = [Button(mark(typed, label), callback(form, q.id, "other"))]
    done = Button(tr("btn.done"), callback(form, q.id, "done"))
    if q.short is None:
        result.buttons.append([*other, done])
        return
    more = (
        Button(tr("btn.fewer"), callback(form, q.id, "less"))
        if data.get(f"{q.key}_all")
        else Button(tr("btn.more"), callback(form, q.id, "more"))
    )
    result.buttons += [[more, *other], [done]]


def _nav(form: Form, q: Question, data: Data, tr: Translator) -> list[Button]:
    nav = [Button(tr("btn.back"), callback(form, q.id, "back"))] if form.go_back else []
    if q.skip:
        nav.append(Button(tr(form.skip_label(q)), callback(form, q.id, "skip")))
    typed = q.kind == Kind.TEXT and q.typed and q.keep
    opened = q.parent is not None and q.follows is None and form[q.parent].kind == Kind.MULTI
    if typed and not opened and form.count(q, data):
        nav.append(Button(tr("btn.keep"), callback(form, q.id, "keep")))
    return nav


def card(form: Form, data: Data, tr: Translator) -> str:
    """The answers as an HTML card: the form's own card message, or a line per question."""
    if form.card is not None:
        return form.card(data, tr)
    return "\n".join(
        f"<b>{escape(tr(form.edit_label(q)))}:</b> {escape(form.label(q, data, tr) or '—')}"
        for q in form.questions
        if q.main and (q.when(data) or q.on_card or q.summary_line)
    )


def _summary(form: Form, data: Data, tr: Translator, top: str) -> Screen:
    q = form[form.summary]
    text = q.text(data, tr) if q.text is not None else None
    result = Screen(top + (text or tr(form.prompt(q), card=Markup(card(form, data, tr)))))
    edits = [
        Button(tr(form.edit_label(e)), callback(form, form.summary, "edit", e.id))
        for e in form.editable(data)
    ]
    focus = q.focus(data, tr) if q.focus is not None else None
    if focus is not None and focus[1] in {e.id for e in form.editable(data)}:
        # The part someone else asked to change (a returned task's): one tap, above the rest.
        result.buttons.append([Button(focus[0], callback(form, form.summary, "edit", focus[1]))])
    result.buttons += rows(edits, form.edit_width)
    finish = tr(form.finish_label())
    result.buttons.append([Button(finish, callback(form, form.summary, form.finish_action))])
    result.buttons += _extra(form, q, data, tr)
    return result
