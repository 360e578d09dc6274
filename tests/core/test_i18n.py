"""The catalogs: bokmål and English complete, placeholders consistent, valid Telegram HTML."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.chat.engine.rows import Kind
from bot.chat.flows.registration.steps import FORM as REGISTRATION
from bot.chat.handlers import COMMANDS
from bot.chat.telegram_html import parse_html
from bot.core import i18n
from bot.domain import reference
from storage.models import TaskStatus

ROOT = Path(__file__).resolve().parents[2]


def _po(language: str):
    with (files("templates") / "locale" / language / "LC_MESSAGES" / "messages.po").open(
        "rb"
    ) as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_every_message_is_translated_and_not_fuzzy(language):
    po = _po(language)
    for message in po:
        if not message.id:
            continue
        assert message.string, f"{language}: {message.id} has no translation"
        assert not message.fuzzy, f"{language}: {message.id} is fuzzy"


def test_both_languages_have_the_same_messages_and_placeholders():
    nb, en = i18n.catalog("nb"), i18n.catalog("en")
    assert set(nb) == set(en)
    for key in en:
        assert set(re.findall(r"\{(\w+)\}", nb[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_chat_messages_are_valid_telegram_html(language):
    for key, text in i18n.catalog(language).items():
        if key.startswith("email."):
            continue
        filled = re.sub(r"\{\w+\}", "x", text)
        parse_html(filled)  # raises on anything Telegram would refuse


def _literal_ids() -> set[str]:
    prefixes = {key.split(".")[0] for key in i18n.catalog("en")}
    found: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("templates").rglob("*.j2")]:
        for match in re.findall(r"[\"']([a-z_]+(?:\.[a-z_]+)+)[\"']", path.read_text()):
            if match.split(".")[0] in prefixes:
                found.add(match)
    return found


def _dynamic_ids() -> set[str]:
    from bot.chat.flows.task import steps as ts

    form = ts.FORM
    asks = [q for q in form.questions if q.kind != Kind.SUMMARY]
    task_ids = {form.prompt(q) for q in asks} | {form.reprompt(q.id, {}) for q in form.questions}
    task_ids |= {form.edit_label(q) for q in asks if q.main}
    task_ids |= {f"task.{q.id}.other" for q in form.questions if q.other}
    task_ids |= {f"task.act.{c}" for c in (*ts.CLINICAL_ACTIVITIES, *ts.RESEARCH_ACTIVITIES)}
    task_ids |= {f"task.hours.{c}" for c in ts.HOURS} | {f"task.product.{c}" for c in ts.PRODUCTS}
    task_ids |= {f"task.ethics.{c}" for c in ts.ETHICS} | {f"month.{m}" for m in range(1, 13)}
    task_ids |= {f"task.goal.{g}" for g in ts.GOALS_BY_ACTIVITY.values()}
    task_ids |= {f"task.goal.{g}" for goals in ts.GENERAL_GOALS.values() for g in goals}
    task_ids |= {f"task.{k}.{v}" for k in ("lang", "conf") for v in ("yes", "no")}
    task_ids |= {f"task.status.{s.value}" for s in TaskStatus}
    ids = {f"type.{t}" for t in (*reference.EXCHANGE_TYPES, "both")}
    ids |= {f"offer.exchange.{t}" for t in reference.EXCHANGE_TYPES}
    ids |= {f"title.{t}" for t in (*reference.TITLES, "other")}
    ids |= {REGISTRATION.edit_label(q) for q in REGISTRATION.editable({})}
    ids |= {f"command.{name}" for name in COMMANDS}
    ids |= {REGISTRATION.prompt(q) for q in REGISTRATION.questions}
    ids |= {
        REGISTRATION.reprompt(q.id, d)
        for q in REGISTRATION.questions
        for d in ({}, {"name_suggestion": "x"})
    }
    return ids | task_ids


def test_every_message_id_the_code_uses_exists():
    known = set(i18n.catalog("en"))
    # A literal that only prefixes ids (`"task.hours"` + `.full`) is a family, not an id.
    families = {k.rsplit(".", 1)[0] for k in known}
    missing = (_literal_ids() - families | _dynamic_ids()) - known
    assert not missing


def test_values_are_escaped_but_markup_values_are_not():
    from markupsafe import Markup

    assert "&lt;b&gt;" in i18n._("en", "reg.fields.chosen", fields="<b>")
    assert "<b>x</b>" in i18n._("en", "reg.fields.chosen", fields=Markup("<b>x</b>"))


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("nb", "nb"),
        ("nn", "nb"),
        ("no", "nb"),
        ("nb-NO", "nb"),
        ("en", "en"),
        ("de", "en"),
        (None, "en"),
    ],
)
def test_telegram_language_codes_map_to_bokmal_or_english(code, language):
    assert i18n.language_from_telegram(code) == language


@pytest.mark.parametrize("language", i18n.SUPPORTED)
def test_every_plural_form_is_valid_html_with_the_same_placeholders(language):
    english = i18n.plurals("en")
    forms = i18n.plurals(language)
    assert set(forms) == set(english)
    for key, (count, texts) in forms.items():
        assert count == english[key][0], key
        placeholders = set(re.findall(r"\{(\w+)\}", english[key][1][-1]))
        assert count in placeholders, key
        for text in texts:
            assert set(re.findall(r"\{(\w+)\}", text)) == placeholders, key
            if not key.startswith("email."):
                parse_html(re.sub(r"\{\w+\}", "x", text))


@pytest.mark.parametrize(
    ("language", "places", "expected"),
    [("nb", 1, "1 plass,"), ("nb", 2, "2 plasser,"), ("en", 1, "1 place,"), ("en", 3, "3 places,")],
)
def test_a_count_takes_the_grammar_of_its_number(language, places, expected):
    line = i18n._(language, "coord.slots.line", reference="R", type="t", city="c", start="s",
                  weeks=4, places=places, filled=0, open=places)  # fmt: skip
    assert expected in line


def test_no_message_hedges_its_plural_with_brackets():
    for language in i18n.SUPPORTED:
        for key, text in i18n.catalog(language).items():
            assert not re.search(r"\w\((s|r|e|er)\)", text), (language, key, text)
