"""The registration questions as rows of the flow engine (`bot.chat.engine`). No Telegram I/O.

```mermaid
stateDiagram-v2
    [*] --> consent: /start (or an invitation's "Yes")
    consent --> types: agree
    consent --> [*]: no thanks (nothing stored)
    types --> name --> title --> workplace --> city --> fields --> email --> verify
    note right of name: name, city, fields, email: skipped when given (a summary line)
    title --> title_other: other
    title_other --> workplace
    city --> city_other: other
    city_other --> fields
    fields --> fields_other: other
    fields_other --> fields
    verify --> summary: code, link or "verify later"
    verify --> email: change email
    summary --> types: edit a field (then back to summary)
    summary --> [*]: confirm
```

What is asked, and why (issue 9: ten answers from /start to confirm on the typical path, twelve
before). Consent and the email's code are never skipped. A question whose answer the bot already
has is not asked: the value is "given" (`GIVEN` lists the keys, fixed when the draft is made, so
"Step N of M" never changes on the way) and it is a line on the summary with its edit button.
Every given value passes the same validator as a typed one (`prefill`).

- Name: given when the Telegram profile's name would pass as a typed name (it was one "Yes"
  tap before); otherwise asked. From an invitation: the name the association sent.
- Phone: never asked on the way; optional, so "not given" is a summary line to fill in there.
- Fields: the first tap on a field takes it and moves on (most supervisors have one main field);
  more are added from the summary, where the list toggles with "Done" as before.
- Language: from Telegram, switchable on the consent screen; not a question.
- From a past supervisor's invitation ("Yes" in the email, `bot.chat.flows.campaign`): the name,
  the address (verified: the signed link proves it reached that inbox), the city and the field
  are given, leaving consent, type, title, workplace and confirm.
- Not defaulted: the exchange type, title and workplace (nothing knows them), the city of a
  person not invited (a wrong city misroutes every offer), and the email (it must be proved).

A profile edit (registered supervisors) walks the same rows with `editing` set, in a form without
a summary to review (`PROFILE_FORM`): reaching the end saves to the profile. A profile's values
are never "given", so every row is offered there. The email's code is a follow-up row with its
own hooks (sending the code when asked, checking a typed code, resend, change address, verify
later); order, back, progress and edits come from the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final

from bot.chat.engine.context import Ctx
from bot.chat.engine.form import Form
from bot.chat.engine.rows import EDITING, Applied, Kind, Option, Predicate, Question
from bot.core.i18n import Translator
from bot.domain import reference
from bot.domain.validation import (
    Invalid,
    Valid,
    validate_code,
    validate_email,
    validate_name,
    validate_phone,
    validate_short_text,
)
from bot.services import verification

SCOPE: Final = "r"
# The privacy notice's version, stored with each consent: change it whenever the notice changes
# (2026-11-30: the do-not-email list that outlives /delete; 2026-11-30.2: erasure after a long
# inactivity, /privacy). A registered supervisor agrees again before anything else
# (`bot.chat.privacy`).
CONSENT_VERSION: Final = "2026-11-30.2"
# The draft's keys whose values the bot already had: not asked, a line on the summary.
GIVEN: Final = "given"


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


def name_suggestion(profile_name: str) -> str | None:
    """The Telegram profile's name as a suggestion, if it would pass as a typed name: a profile
    name is typed by anyone, and tapping "yes" must not store what typing it would refuse."""
    checked = validate_name(profile_name)
    return checked.value if isinstance(checked, Valid) else None


def _asked(key: str) -> Predicate:
    """Asked unless the draft was given the value (an old draft, or a profile, has none given)."""
    return lambda data: key not in data.get(GIVEN, [])


def _kept(key: str) -> Callable[[dict[str, Any]], Any]:
    """A given row's default: the value it holds (given, or changed on the summary)."""
    return lambda data: data.get(key)


def _never(data: dict[str, Any]) -> bool:
    return False


def prefill(data: dict[str, Any], values: dict[str, Any], verified_at: str | None = None) -> None:
    """Give the draft what the bot already knows, each value checked as a typed or tapped one
    would be; a value that fails is left out (and asked). `verified_at`: when the email was
    proved (a signed invitation link); without it the address is asked, and its code."""
    given: list[str] = list(data.get(GIVEN, []))
    name = validate_name(str(values.get("name") or ""))
    if isinstance(name, Valid):
        data["name"] = name.value
        given.append("name")
    email = validate_email(str(values.get("email") or ""))
    if isinstance(email, Valid) and verified_at:  # an address is given only when proved
        data["email"] = email.value
        data["email_verified_at"] = verified_at
        given.append("email")
    if values.get("city") in {c.code for c in reference.cities()}:
        data["city"] = values["city"]
        given.append("city")
    fields = [str(f) for f in values.get("fields") or []]
    if fields and all(reference.field(f) is not None for f in fields):
        data["fields"] = fields
        given.append("fields")
    data[GIVEN] = sorted(set(given))


# ---- labels ------------------------------------------------------------------------------------


def types_label(data: dict[str, Any], tr: Translator) -> str:
    return ", ".join(tr(f"type.{t}") for t in data.get("exchange_types", []))


def title_label(data: dict[str, Any], tr: Translator) -> str:
    title = data.get("title")
    if title == "other":
        return str(data.get("title_other") or tr("title.other"))
    return tr(f"title.{title}") if title else ""


def city_label(data: dict[str, Any], tr: Translator) -> str:
    if data.get("city") == "other":
        return str(data.get("city_other") or tr("btn.other"))
    city = reference.city(str(data.get("city") or ""))
    return city.name(tr.language) if city else ""


def fields_label(data: dict[str, Any], tr: Translator) -> str:
    names = [f.name(tr.language) for code in data.get("fields", []) if (f := reference.field(code))]
    if data.get("fields_other"):
        names.append(str(data["fields_other"]))
    return ", ".join(names)


def _verified_label(data: dict[str, Any], tr: Translator) -> str:
    return tr("profile.verified") if data.get("email_verified_at") else tr("profile.unverified")


def _phone_label(data: dict[str, Any], tr: Translator) -> str:
    return str(data.get("phone") or tr("profile.no_phone"))


# ---- options and prompts -----------------------------------------------------------------------


def _types(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(k, tr(f"type.{k}")) for k in ("clinical", "research", "both")]


def _types_value(code: str) -> list[str]:
    return ["clinical", "research"] if code == "both" else [code]


def _types_code(value: Any) -> str:
    chosen = sorted(value or [])
    return "both" if chosen == ["clinical", "research"] else (chosen[0] if chosen else "")


def _titles(data: dict[str, Any], tr: Translator) -> list[Option]:
    return [Option(c, tr(f"title.{c}")) for c in (*reference.TITLES, "other")]


def _cities(data: dict[str, Any], tr: Translator) -> list[Option]:
    cities = [Option(c.code, c.name(tr.language)) for c in reference.cities()]
    return [*cities, Option("other", tr("btn.other"))]


def _fields(data: dict[str, Any], tr: Translator) -> list[Option]:
    offered = reference.fields_for(list(data.get("exchange_types", [])), tr.language)
    return [Option(f.code, f.name(tr.language)) for f in offered]


def _first_field(data: dict[str, Any]) -> bool:
    """On the way through (not an edit), before any field is chosen: a tap takes the field."""
    return not data.get(EDITING) and not data.get("fields") and not data.get("fields_other")


def _fields_text(data: dict[str, Any], tr: Translator) -> str:
    if _first_field(data):
        return tr("reg.fields.ask_main")
    chosen = fields_label(data, tr)
    return tr("reg.fields.ask") + ("\n" + tr("reg.fields.chosen", fields=chosen) if chosen else "")


def _name_text(data: dict[str, Any], tr: Translator) -> str:
    if data.get("name_suggestion"):
        return tr("reg.name.confirm", name=data.get("name") or data["name_suggestion"])
    return tr("reg.name.ask")


def _name_extra(data: dict[str, Any], tr: Translator) -> list[list[tuple[str, str]]]:
    return [[(tr("reg.name.yes"), "yes")]] if data.get("name_suggestion") else []


def _name_reprompt(data: dict[str, Any]) -> str:
    """The name step offers "Yes" only when there is a suggestion."""
    return "reg.name.reprompt" if data.get("name_suggestion") else "reg.name.reprompt_typed"


def _email_changed(data: dict[str, Any], new: Any) -> None:
    data["email_verified_at"] = None  # a new address is verified anew


def _verify_text(data: dict[str, Any], tr: Translator) -> str:
    return tr("reg.verify.ask", email=data.get("email", ""))


def _verify_extra(data: dict[str, Any], tr: Translator) -> list[list[tuple[str, str]]]:
    return [
        [(tr("reg.verify.resend"), "resend"), (tr("reg.verify.change"), "change")],
        [(tr("reg.verify.later"), "later")],
    ]


# ---- the row hooks: a suggested name, and the email's code -----------------------------------


async def _name_yes(ctx: Ctx, value: str) -> Applied:
    data = ctx.conv.data
    if not data.get("name_suggestion"):
        return Applied(Step.NAME, notice="btn.stale")
    if data.get("name"):
        return FORM.accept(Step.NAME, data, str(data["name"]))
    suggestion = name_suggestion(str(data["name_suggestion"]))
    if suggestion is None:  # a draft begun before suggestions were checked
        del data["name_suggestion"]
        return Applied(Step.NAME, notice="reg.name.suggestion_refused")
    data["name"] = suggestion
    return FORM.accept(Step.NAME, data, suggestion)


async def _pick_field(ctx: Ctx, value: str) -> Applied:
    """The first field tapped on the way is the answer (no "Done"); otherwise a toggle."""
    data = ctx.conv.data
    first = _first_field(data)
    applied = FORM.apply_button(Step.FIELDS, data, "toggle", value, ctx.tr)
    if not first or applied.notice is not None or not data.get("fields"):
        return applied
    data.pop("fields_all", None)
    return FORM.accept(Step.FIELDS, data, fields_label(data, ctx.tr))


async def queue_code(ctx: Ctx) -> str | None:
    """Queue a code for the draft's address; the notice (catalog id) when over the limit."""
    conv, data = ctx.conv, ctx.conv.data
    email = str(data["email"])
    if not await verification.may_send(ctx.session, ctx.svc, conv.telegram_user_id, email):
        return "reg.verify.rate_limited"
    await verification.send_code(
        ctx.session,
        ctx.svc,
        user_id=conv.telegram_user_id,
        email=email,
        language=conv.language,
        name=str(data.get("name") or data.get("name_suggestion") or ""),
    )
    return None


async def _send_code(ctx: Ctx) -> Applied:
    refused = await queue_code(ctx)
    return Applied(Step.VERIFY, notice=refused, mail=refused is None)


async def _resend(ctx: Ctx, value: str) -> Applied:
    refused = await queue_code(ctx)
    return Applied(Step.VERIFY, notice=refused or "reg.verify.resent", mail=refused is None)


async def _change(ctx: Ctx, value: str) -> Applied:
    return Applied(Step.EMAIL)


async def _later(ctx: Ctx, value: str) -> Applied:
    ctx.conv.data["email_verified_at"] = None
    return FORM.accept(Step.VERIFY, ctx.conv.data)


async def _check_code(ctx: Ctx, text: str) -> Applied:
    result = validate_code(text)
    if isinstance(result, Invalid):
        return Applied(Step.VERIFY, notice=result.message_id)
    check = await verification.check_code(
        ctx.session,
        ctx.svc,
        user_id=ctx.conv.telegram_user_id,
        email=str(ctx.conv.data.get("email")),
        code=result.value,
    )
    match check.outcome:
        case verification.CodeCheck.OK:
            ctx.conv.data["email_verified_at"] = ctx.svc.clock.now().isoformat()
            return FORM.accept(Step.VERIFY, ctx.conv.data)
        case verification.CodeCheck.WRONG:
            return Applied(Step.VERIFY, notice="reg.verify.wrong", args={"left": check.tries_left})
        case verification.CodeCheck.EXPIRED:
            return Applied(Step.VERIFY, notice="reg.verify.expired")
        case verification.CodeCheck.TOO_MANY:
            return Applied(Step.VERIFY, notice="reg.verify.too_many")
        case _:
            return Applied(Step.VERIFY, notice="reg.verify.none_sent")


# ---- the questions -----------------------------------------------------------------------------

_TEXT_REPROMPT: Final = "reg.text.reprompt"

QUESTIONS: Final[tuple[Question, ...]] = (
    Question(
        Step.TYPES,
        "exchange_types",
        Kind.CHOICE,
        _types,
        store=_types_value,
        code=_types_code,
        label=types_label,
        width=3,
    ),
    Question(
        Step.NAME,
        "name",
        Kind.TEXT,
        parse=validate_name,
        when=_asked("name"),
        default=_kept("name"),
        summary_line=True,
        text=_name_text,
        extra=_name_extra,
        reprompt=_name_reprompt,
        actions={"yes": _name_yes},
    ),
    Question(Step.TITLE, "title", Kind.CHOICE, _titles, other=Step.TITLE_OTHER, label=title_label),
    Question(
        Step.TITLE_OTHER,
        "title_other",
        Kind.TEXT,
        parse=validate_short_text,
        parent=Step.TITLE,
        prompt="reg.title_other.ask",
        reprompt=_TEXT_REPROMPT,
    ),
    Question(
        Step.WORKPLACE,
        "workplace",
        Kind.TEXT,
        parse=validate_short_text,
        prompt="reg.workplace.ask",
        reprompt="reg.workplace.reprompt",
    ),
    Question(
        Step.CITY,
        "city",
        Kind.CHOICE,
        _cities,
        other=Step.CITY_OTHER,
        label=city_label,
        when=_asked("city"),
        default=_kept("city"),
        summary_line=True,
    ),
    Question(
        Step.CITY_OTHER,
        "city_other",
        Kind.TEXT,
        parse=validate_short_text,
        parent=Step.CITY,
        prompt="reg.city_other.ask",
        reprompt=_TEXT_REPROMPT,
    ),
    Question(
        Step.FIELDS,
        "fields",
        Kind.MULTI,
        _fields,
        short=reference.COMMON_COUNT,
        other=Step.FIELDS_OTHER,
        other_label="btn.other",
        none="reg.fields.none",
        text=_fields_text,
        label=fields_label,
        when=_asked("fields"),
        default=_kept("fields"),
        summary_line=True,
        actions={"toggle": _pick_field},
    ),
    Question(
        Step.FIELDS_OTHER,
        "fields_other",
        Kind.TEXT,
        parse=validate_short_text,
        parent=Step.FIELDS,
        prompt="reg.fields_other.ask",
        reprompt=_TEXT_REPROMPT,
    ),
    Question(
        Step.EMAIL,
        "email",
        Kind.TEXT,
        parse=validate_email,
        changed=_email_changed,
        when=_asked("email"),
        default=_kept("email"),
        summary_line=True,
    ),
    Question(
        Step.VERIFY,
        "email_verified_at",
        Kind.TEXT,
        parent=Step.EMAIL,
        follows=lambda d: not d.get("email_verified_at"),
        text=_verify_text,
        extra=_verify_extra,
        label=_verified_label,
        echo=False,
        keep=False,
        check=_check_code,
        enter=_send_code,
        actions={"resend": _resend, "change": _change, "later": _later},
    ),
    Question(
        Step.PHONE,
        "phone",
        Kind.CONTACT,
        parse=validate_phone,
        when=_never,
        default=_kept("phone"),
        summary_line=True,
        optional=True,
        skip_label="reg.phone.skip",
        label=_phone_label,
    ),
    Question(Step.SUMMARY, "", Kind.SUMMARY),
)


def _card(data: dict[str, Any], tr: Translator) -> str:
    """The answers as the profile card; each question fills its own `{id}` placeholder."""
    return tr("profile.card", **{q.id: FORM.label(q, data, tr) for q in QUESTIONS})


FORM: Final = Form(
    "reg",
    SCOPE,
    QUESTIONS,
    progress_id="reg.progress",
    finish_action="confirm",
    card=_card,
    edit_label_id="edit.{id}",
    edit_width=2,
)
PROFILE_FORM: Final = FORM.reviewing(False)
