"""The registration questions as data, and the screens that ask them. Pure: no Telegram I/O.

```mermaid
stateDiagram-v2
    [*] --> consent: /start
    consent --> types: agree
    consent --> [*]: no thanks (nothing stored)
    types --> name --> title --> workplace --> city --> fields --> email --> verify
    title --> title_other: other
    title_other --> workplace
    city --> city_other: other
    city_other --> fields
    fields --> fields_other: other
    fields_other --> fields
    verify --> phone: code, link or "verify later"
    verify --> email: change email
    phone --> summary: number, contact or skip
    summary --> types: edit a field (then back to summary)
    summary --> [*]: confirm
```

A profile edit (registered supervisors) walks the same steps with `editing` set, and its
"summary" means "save to the profile".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from markupsafe import Markup

from bot.chat.ui import Button, KeyButton, Screen
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.signing import Callback
from bot.domain.validation import Result, validate_email, validate_name, validate_short_text

SCOPE: Final = "r"
# The privacy notice's version, stored with each consent: change it whenever the notice changes
# (2026-11-30: the do-not-email list that outlives /delete).
CONSENT_VERSION: Final = "2026-11-30"
MAIN_STEPS: Final = 8


class Step(StrEnum):
    TYPES = "types"
    NAME = "name"
    TITLE = "title"
    TITLE_OTHER = "title_o"
    WORKPLACE = "work"
    CITY = "city"
    CITY_OTHER = "city_o"
    FIELDS = "fields"
    FIELDS_OTHER = "fields_o"
    EMAIL = "email"
    VERIFY = "verify"
    PHONE = "phone"
    SUMMARY = "summary"


class Flow(StrEnum):
    REGISTRATION = "registration"
    PROFILE = "profile"


@dataclass(frozen=True)
class Question:
    """One step: where its answer goes, how it is asked, and how typed text is checked."""

    step: Step
    key: str
    prompt: str
    reprompt: str
    progress: int | None = None
    parse: Callable[[str], Result] | None = None
    returns_to: Step | None = None  # a sub-step that hands back to its parent step


QUESTIONS: Final[dict[Step, Question]] = {
    q.step: q
    for q in (
        Question(Step.TYPES, "exchange_types", "reg.types.ask", "reg.types.reprompt", 1),
        Question(Step.NAME, "name", "reg.name.ask", "reg.name.reprompt", 2, validate_name),
        Question(Step.TITLE, "title", "reg.title.ask", "reg.title.reprompt", 3),
        Question(
            Step.TITLE_OTHER,
            "title_other",
            "reg.title_other.ask",
            "reg.text.reprompt",
            3,
            validate_short_text,
        ),
        Question(
            Step.WORKPLACE,
            "workplace",
            "reg.workplace.ask",
            "reg.workplace.reprompt",
            4,
            validate_short_text,
        ),
        Question(Step.CITY, "city", "reg.city.ask", "reg.city.reprompt", 5),
        Question(
            Step.CITY_OTHER,
            "city_other",
            "reg.city_other.ask",
            "reg.text.reprompt",
            5,
            validate_short_text,
        ),
        Question(Step.FIELDS, "fields", "reg.fields.ask", "reg.fields.reprompt", 6),
        Question(
            Step.FIELDS_OTHER,
            "fields_other",
            "reg.fields_other.ask",
            "reg.text.reprompt",
            6,
            validate_short_text,
            returns_to=Step.FIELDS,
        ),
        Question(Step.EMAIL, "email", "reg.email.ask", "reg.email.reprompt", 7, validate_email),
        Question(Step.VERIFY, "email_verified_at", "reg.verify.ask", "reg.verify.reprompt", 7),
        Question(Step.PHONE, "phone", "reg.phone.ask", "reg.phone.reprompt", 8),
        Question(Step.SUMMARY, "", "reg.summary.ask", "reg.summary.reprompt"),
    )
}

SUB_STEPS: Final = frozenset({Step.TITLE_OTHER, Step.CITY_OTHER, Step.FIELDS_OTHER, Step.VERIFY})
EDITABLE: Final = (
    Step.TYPES,
    Step.NAME,
    Step.TITLE,
    Step.WORKPLACE,
    Step.CITY,
    Step.FIELDS,
    Step.EMAIL,
    Step.PHONE,
)

_BACK: Final[dict[Step, Step | None]] = {
    Step.TYPES: None,
    Step.NAME: Step.TYPES,
    Step.TITLE: Step.NAME,
    Step.TITLE_OTHER: Step.TITLE,
    Step.WORKPLACE: Step.TITLE,
    Step.CITY: Step.WORKPLACE,
    Step.CITY_OTHER: Step.CITY,
    Step.FIELDS: Step.CITY,
    Step.FIELDS_OTHER: Step.FIELDS,
    Step.EMAIL: Step.FIELDS,
    Step.VERIFY: Step.EMAIL,
    Step.PHONE: Step.EMAIL,
    Step.SUMMARY: Step.PHONE,
}


def previous(step: Step) -> Step | None:
    """Where "back" leads; None on the first question (back to the consent screen)."""
    return _BACK[step]


def following(step: Step, data: dict[str, Any]) -> Step:
    """The step after an accepted answer, given the answers so far."""
    if step == Step.TITLE and data.get("title") == "other":
        return Step.TITLE_OTHER
    if step == Step.CITY and data.get("city") == "other":
        return Step.CITY_OTHER
    question = QUESTIONS[step]
    if question.returns_to:
        return question.returns_to
    order = [
        Step.TYPES,
        Step.NAME,
        Step.TITLE,
        Step.WORKPLACE,
        Step.CITY,
        Step.FIELDS,
        Step.EMAIL,
        Step.VERIFY,
        Step.PHONE,
        Step.SUMMARY,
    ]
    base = {Step.TITLE_OTHER: Step.TITLE, Step.CITY_OTHER: Step.CITY}.get(step, step)
    return order[order.index(base) + 1]


def advance(step: Step, data: dict[str, Any]) -> Step:
    """`following`, except that an edit returns to the summary once its own sub-steps are done."""
    nxt = following(step, data)
    if data.get("editing") and nxt not in SUB_STEPS and step != Step.FIELDS_OTHER:
        data.pop("editing", None)
        return Step.SUMMARY
    return nxt


# ---- screens ---------------------------------------------------------------------------------


def _cb(step: Step, action: str, value: str = "") -> Callback:
    return Callback(SCOPE, step.value, action, value)


def _mark(selected: bool, label: str) -> str:
    return f"✅ {label}" if selected else label


def _header(tr: Translator, question: Question, data: dict[str, Any]) -> str:
    if question.progress is None or data.get("editing"):  # an edit is one question, not a step of 8
        return ""
    return tr("reg.progress", step=question.progress, total=MAIN_STEPS) + "\n"


def _nav_row(tr: Translator, step: Step, data: dict[str, Any]) -> list[Button]:
    row = [Button(tr("btn.back"), _cb(step, "back"))]
    question = QUESTIONS[step]
    if question.parse is not None and data.get(question.key) and step != Step.FIELDS_OTHER:
        row.append(Button(tr("btn.keep"), _cb(step, "keep")))
    return row


def title_label(tr: Translator, code: str) -> str:
    return tr(f"title.{code}")


def city_label(language: str, data: dict[str, Any]) -> str:
    if data.get("city") == "other":
        return str(data.get("city_other") or "")
    city = reference.city(str(data.get("city") or ""))
    return city.name(language) if city else ""


def fields_label(language: str, data: dict[str, Any]) -> str:
    names = [f.name(language) for code in data.get("fields", []) if (f := reference.field(code))]
    if data.get("fields_other"):
        names.append(str(data["fields_other"]))
    return ", ".join(names)


def types_label(tr: Translator, data: dict[str, Any]) -> str:
    return ", ".join(tr(f"type.{t}") for t in data.get("exchange_types", []))


def profile_lines(tr: Translator, data: dict[str, Any]) -> str:
    """The person's answers as a card; every value escaped by the translator."""
    title = (
        data.get("title_other")
        if data.get("title") == "other"
        else (title_label(tr, data["title"]) if data.get("title") else "")
    )
    verified = tr("profile.verified") if data.get("email_verified_at") else tr("profile.unverified")
    return tr(
        "profile.card",
        types=types_label(tr, data),
        name=data.get("name", ""),
        title=title or "",
        workplace=data.get("workplace", ""),
        city=city_label(tr.language, data),
        fields=fields_label(tr.language, data),
        email=data.get("email", ""),
        verified=verified,
        phone=data.get("phone") or tr("profile.no_phone"),
    )


def screen(
    step: Step, data: dict[str, Any], tr: Translator, *, notice: str | None = None
) -> Screen:
    """The prompt for `step`; `notice` (an error or re-prompt) goes on top when given."""
    question = QUESTIONS[step]
    top = f"{notice}\n\n" if notice else ""
    text = top + _header(tr, question, data) + _prompt_text(step, data, tr)
    result = Screen(text)
    builder = _KEYBOARDS.get(step)
    if builder is not None:
        builder(result, data, tr)
    if step not in (Step.PHONE, Step.SUMMARY):
        result.buttons.append(_nav_row(tr, step, data))
    return result


def reprompt_id(step: Step, data: dict[str, Any]) -> str:
    """The step's short re-prompt; the name step offers "Yes" only when there is a suggestion."""
    if step == Step.NAME and not data.get("name_suggestion"):
        return "reg.name.reprompt_typed"
    return QUESTIONS[step].reprompt


def _prompt_text(step: Step, data: dict[str, Any], tr: Translator) -> str:
    question = QUESTIONS[step]
    if step == Step.NAME and data.get("name_suggestion"):
        return tr("reg.name.confirm", name=data.get("name") or data["name_suggestion"])
    if step == Step.VERIFY:
        return tr(question.prompt, email=data.get("email", ""))
    if step == Step.SUMMARY:
        return tr(question.prompt, card=Markup(profile_lines(tr, data)))
    if step == Step.FIELDS and (chosen := fields_label(tr.language, data)):
        return tr(question.prompt) + "\n" + tr("reg.fields.chosen", fields=chosen)
    return tr(question.prompt)


def _types_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    current = sorted(data.get("exchange_types", []))
    options = [
        ("clinical", ["clinical"]),
        ("research", ["research"]),
        ("both", ["clinical", "research"]),
    ]
    s.buttons.append(
        [
            Button(_mark(current == v, tr(f"type.{k}")), _cb(Step.TYPES, "pick", k))
            for k, v in options
        ]
    )


def _name_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    if data.get("name_suggestion"):
        s.buttons.append([Button(tr("reg.name.yes"), _cb(Step.NAME, "yes"))])


def _title_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    current = data.get("title")
    codes = [*reference.TITLES, "other"]
    buttons = [
        Button(_mark(current == c, title_label(tr, c)), _cb(Step.TITLE, "pick", c)) for c in codes
    ]
    s.buttons.extend([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _city_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    current = data.get("city")
    buttons = [
        Button(_mark(current == c.code, c.name(tr.language)), _cb(Step.CITY, "pick", c.code))
        for c in reference.cities()
    ]
    buttons.append(
        Button(_mark(current == "other", tr("btn.other")), _cb(Step.CITY, "pick", "other"))
    )
    s.buttons.extend([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def _fields_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    chosen = set(data.get("fields", []))
    offered = reference.fields_for(list(data.get("exchange_types", [])), tr.language)
    show_all = bool(data.get("fields_all"))
    visible = offered if show_all else offered[: reference.COMMON_COUNT]
    # Chosen fields stay visible even on the short list, so a toggle never hides itself.
    visible += [f for f in offered if f.code in chosen and f not in visible]
    buttons = [
        Button(_mark(f.code in chosen, f.name(tr.language)), _cb(Step.FIELDS, "toggle", f.code))
        for f in visible
    ]
    s.buttons.extend([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
    more = (
        Button(tr("btn.fewer"), _cb(Step.FIELDS, "less"))
        if show_all
        else Button(tr("btn.more"), _cb(Step.FIELDS, "more"))
    )
    s.buttons.append(
        [
            more,
            Button(
                _mark(bool(data.get("fields_other")), tr("btn.other")), _cb(Step.FIELDS, "other")
            ),
        ]
    )
    s.buttons.append([Button(tr("btn.done"), _cb(Step.FIELDS, "done"))])


def _verify_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    s.buttons.append(
        [
            Button(tr("reg.verify.resend"), _cb(Step.VERIFY, "resend")),
            Button(tr("reg.verify.change"), _cb(Step.VERIFY, "change")),
        ]
    )
    s.buttons.append([Button(tr("reg.verify.later"), _cb(Step.VERIFY, "later"))])


def _phone_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    s.keyboard = [
        [KeyButton(tr("reg.phone.share"), contact=True)],
        [KeyButton(tr("reg.phone.skip")), KeyButton(tr("btn.back"))],
    ]


def _summary_keyboard(s: Screen, data: dict[str, Any], tr: Translator) -> None:
    edits = [
        Button(tr(f"edit.{step.value}"), _cb(Step.SUMMARY, "edit", step.value)) for step in EDITABLE
    ]
    s.buttons.extend([edits[i : i + 2] for i in range(0, len(edits), 2)])
    s.buttons.append([Button(tr("reg.summary.confirm"), _cb(Step.SUMMARY, "confirm"))])


_KEYBOARDS: Final[dict[Step, Callable[[Screen, dict[str, Any], Translator], None]]] = {
    Step.TYPES: _types_keyboard,
    Step.NAME: _name_keyboard,
    Step.TITLE: _title_keyboard,
    Step.CITY: _city_keyboard,
    Step.FIELDS: _fields_keyboard,
    Step.VERIFY: _verify_keyboard,
    Step.PHONE: _phone_keyboard,
    Step.SUMMARY: _summary_keyboard,
}


def answer_label(step: Step, data: dict[str, Any], tr: Translator) -> str:
    """How an answer is echoed under its (now closed) question."""
    match step:
        case Step.TYPES:
            return types_label(tr, data)
        case Step.TITLE:
            return title_label(tr, data["title"])
        case Step.CITY:
            return city_label(tr.language, data) or tr("btn.other")
        case Step.FIELDS:
            return fields_label(tr.language, data)
        case _:
            return str(data.get(QUESTIONS[step].key) or "")
