"""Privacy in the chat, read as the person sees it: /privacy in both languages, and consent
asked again when the notice's version changed (the message that met it is not lost)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.chat.flows.registration.steps import CONSENT_VERSION
from bot.core.settings import Settings
from storage import audit, repository
from storage.models import Supervisor
from tests.support.coordinators import supervisor_with_task


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "privacy_controller": "Norsk medisinstudentforening (Nmf)",
            "privacy_contact": "personvern@nmf.example",
        }
    )


async def test_privacy_in_english_names_controller_data_purpose_retention_rights_processors(john):
    await john.command("privacy")
    shown = john.last().text
    assert "Norsk medisinstudentforening (Nmf) is the data controller" in shown
    assert "Write to personvern@nmf.example about your data." in shown
    for stored in ("name, title, workplace, city, fields, work email", "phone number"):
        assert stored in shown
    assert "consent (GDPR article 6(1)(a))" in shown
    assert "Telegram" in shown and "email provider" in shown and "outside the EEA" in shown
    assert "Unfinished answers are deleted after 30 days" in shown
    assert "2 whole exchange seasons (April–March)" in shown and "within 60 days" in shown
    for right in ("access: /mydata", "erasure: /delete", "rectification", "objection"):
        assert right in shown, right
    assert "Datatilsynet" in shown
    assert f"version {CONSENT_VERSION}" in shown


async def test_privacy_in_bokmal(kari):
    await kari.command("privacy")
    shown = kari.last().text
    assert "Norsk medisinstudentforening (Nmf) er behandlingsansvarlig" in shown
    assert "Skriv til personvern@nmf.example om dataene dine." in shown
    assert "innsyn: /mydata" in shown and "sletting: /delete" in shown and "retting" in shown
    assert "protest" in shown and "klage: til Datatilsynet" in shown
    assert "2 hele utvekslingssesonger (april–mars)" in shown and "innen 60 dager" in shown
    assert "databehandlere" in shown.lower() and "utenfor EØS" in shown


async def test_privacy_in_the_middle_of_registration_asks_the_current_question_again(john):
    await john.command("start")
    await john.press("I agree")
    await john.command("privacy")
    assert "Datatilsynet" in john.messages()[-2].text
    assert "Clinical" in john.last().button_texts  # the first question again


async def test_privacy_is_in_the_command_menu_and_in_help_in_both_languages(fake, john, kari):
    assert {"command": "privacy", "description": "what we store and your rights"} in (
        fake.commands()
    )
    assert {"command": "privacy", "description": "hva vi lagrer og rettighetene dine"} in (
        fake.commands("nb")
    )
    await john.command("help")
    assert "/privacy — what we store, why, and your rights" in john.last().text
    await kari.command("help")
    assert "/privacy — hva vi lagrer, hvorfor, og rettighetene dine" in kari.last().text


async def _older_consent(services, user_id: int) -> None:
    async with services.db.session() as session:
        await session.execute(
            update(Supervisor)
            .where(Supervisor.telegram_user_id == user_id)
            .values(consent_version="2026-11")
        )


async def test_a_changed_notice_is_agreed_to_before_anything_else_and_the_message_goes_on(
    services, john
):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    await _older_consent(services, john.user.id)

    await john.command("tasks")  # what they came for
    asked = john.last()
    assert asked.text.startswith("📝 Our privacy notice has changed.")
    assert f"(version {CONSENT_VERSION})" in asked.text
    assert "Heart failure clinic" not in asked.text
    assert asked.button_texts == ["✅ I agree", "No thanks"]

    await john.press("I agree")
    assert "Let's go on where you were." in john.messages()[-2].text
    assert "Heart failure clinic" in john.last().text  # the held /tasks, answered
    async with services.db.session() as session:
        supervisor = await repository.get_supervisor(session, john.user.id)
    assert supervisor is not None
    assert supervisor.consent_version == CONSENT_VERSION and supervisor.held_update is None

    await john.command("tasks")  # asked once: now everything answers as before
    assert "Heart failure clinic" in john.last().text


async def test_declining_the_changed_notice_explains_offers_delete_and_asks_again_later(
    services, kari
):
    await supervisor_with_task(services, kari, title="Hjertesviktpoliklinikk")
    await _older_consent(services, kari.user.id)
    await kari.send("hei")
    await kari.press("Nei takk")
    declined = kari.last().text
    assert "Uten samtykket ditt" in declined and "/delete sletter det for godt" in declined
    assert kari.last().buttons == []
    await kari.command("privacy")  # the rights stay open without consent
    assert "Datatilsynet" in kari.last().text
    await kari.command("tasks")
    assert kari.last().text.startswith("📝 Personvernerklæringen vår er endret.")
    await kari.command("delete")
    assert "Slette alle dataene dine?" in kari.last().text


async def test_a_button_under_the_old_notice_meets_the_new_one_first(services, john):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    await john.command("start")  # the profile menu, with buttons
    menu = john.last()
    await _older_consent(services, john.user.id)
    await john.press(menu.button_texts[0], message=menu)
    assert john.last().text.startswith("📝 Our privacy notice has changed.")
    await john.press("I agree")
    assert "Let's go on where you were." in john.messages()[-2].text


async def test_delete_leaves_an_audit_row_of_counts_and_the_reason_only(services, john, clock):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    await john.command("delete")
    await john.press("Yes, erase everything")
    async with services.db.session() as session:
        entries = await audit.entries(session)
    assert [(e.kind, e.created_at) for e in entries] == [("request", clock.now())]
    assert entries[0].counts["profiles"] == 1 and entries[0].counts["tasks"] == 1
    assert set(entries[0].model_dump()) == {"id", "kind", "counts", "created_at"}
    assert all(isinstance(count, int) for count in entries[0].counts.values())


async def test_delete_by_someone_we_hold_nothing_about_writes_no_audit_row(services, kari):
    await kari.command("delete")
    await kari.press("Ja, slett alt")
    async with services.db.session() as session:
        assert await audit.entries(session) == []
