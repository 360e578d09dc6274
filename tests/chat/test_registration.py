"""Registration, end to end, through the real python-telegram-bot Application.

Each story checks what the person sees, in their language, and what is stored after each step.
"""

from __future__ import annotations

from datetime import timedelta

from bot.chat.flows.registration.steps import CONSENT_VERSION
from tests.helpers import code_in, mails, stored


async def test_a_researcher_registers_in_english_from_start_to_thank_you(
    john, services, settings, fake
):
    await john.command("start")
    welcome = john.last()
    assert "Welcome to Veileder" in welcome.text and "Privacy" in welcome.text
    assert "4 or 8 weeks" in welcome.text and "travel and lodging" in welcome.text
    assert await stored(services, john.user.id) == (None, None), "nothing is stored before consent"

    await john.press("I agree")
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.step == "types"
    assert conv.data["consent_version"] == CONSENT_VERSION and conv.data["consent_at"]
    assert "Step 1 of 6" in john.last().text
    assert conv.data["name"] == "John Smith", "the Telegram name is given, not asked"

    await john.press("Research")
    assert "Step 2 of 6" in john.last().text
    await john.press("Researcher / PhD")
    assert "Step 3 of 6" in john.last().text
    await john.send("Institute of Health & Society <UiO>")
    assert "Step 4 of 6" in john.last().text
    await john.press("Oslo")
    fields = john.last()
    assert "Step 5 of 6" in fields.text and "main field" in fields.text
    assert (
        "Epidemiology" in fields.button_texts and "Cardiology" not in fields.button_texts
    )  # research fields first
    await john.press("Epidemiology")  # one tap takes the main field
    assert "Step 6 of 6" in john.last().text and "work email" in john.last().text

    await john.send("John.Smith@UIO.no")
    assert "6-digit code to John.Smith@uio.no" in john.last().text
    await services.sender.run_once()
    [verification] = mails(settings.mail_dir)
    assert verification["To"] == "John.Smith@uio.no"

    await john.send(code_in(verification))
    summary = john.last()
    assert "Please check your details" in summary.text and "John Smith" in summary.text
    await john.press("Fields")  # more fields, and the phone, are added on the summary
    await john.press("Global health")
    assert "Chosen: Epidemiology, Global health" in john.last().text
    await john.press("Done")
    await john.press("Phone")
    assert "Share my number" in john.last().keyboard_texts[0]
    await john.share_contact("4791234567")
    summary = john.last()
    assert "Please check your details" in summary.text
    assert "Institute of Health & Society <UiO>" in summary.text
    assert "John.Smith@uio.no (verified)" in summary.text and "+4791234567" in summary.text

    await john.press("Confirm")
    assert "you are registered as a supervisor" in john.texts()[-2]
    assert "define a task for a student now" in john.last().text
    conv, supervisor = await stored(services, john.user.id)
    assert conv is None
    assert supervisor is not None
    assert (supervisor.name, supervisor.title, supervisor.workplace, supervisor.city) == (
        "John Smith",
        "researcher",
        "Institute of Health & Society <UiO>",
        "oslo",
    )
    assert supervisor.exchange_types == ["research"]
    assert supervisor.fields == ["epidemiology", "global_health"]
    assert supervisor.email == "John.Smith@uio.no" and supervisor.email_verified_at is not None
    assert supervisor.phone == "+4791234567" and supervisor.language == "en"
    assert supervisor.consent_version == CONSENT_VERSION


async def test_a_norwegian_gp_registers_in_bokmal_with_other_answers_and_verifies_later(
    kari, services, settings
):
    await kari.command("start")
    assert "Velkommen til Veileder" in kari.last().text and "Personvern" in kari.last().text
    await kari.press("Jeg samtykker")
    await kari.press("Klinisk")
    assert "Steg 2 av 6" in kari.last().text
    await kari.press("Annet")
    assert "Skriv tittelen" in kari.last().text
    await kari.send("Kommuneoverlege")
    assert "Steg 3 av 6" in kari.last().text
    await kari.send("Legesenteret på Lillehammer")
    await kari.press("Annet")
    await kari.send("Lillehammer")
    assert "Steg 5 av 6" in kari.last().text
    await kari.press("Flere fagfelt")
    await kari.press("Urologi")
    await kari.send("kari@legesenteret.no")
    assert "6-sifret kode" in kari.last().text
    await kari.press("Bekreft senere")
    assert "Se over opplysningene dine" in kari.last().text
    await kari.press("Navn")  # the Telegram name, changed on the summary
    await kari.send("Kari Nordmann-Ås")
    await kari.press("Fagfelt")
    await kari.press("Allmennmedisin")
    await kari.press("Ferdig")
    assert "ikke bekreftet ennå" in kari.last().text and "ikke oppgitt" in kari.last().text

    await kari.press("Arbeidssted")  # edit one field from the summary...
    await kari.send("Lillehammer legesenter")
    summary = kari.last()  # ...and land on the summary again
    assert "Se over opplysningene dine" in summary.text and "Lillehammer legesenter" in summary.text

    await kari.press("Bekreft")
    assert "E-posten din er ikke bekreftet ennå" in kari.texts()[-2]
    _, supervisor = await stored(services, kari.user.id)
    assert supervisor is not None
    assert (supervisor.title, supervisor.city, supervisor.workplace) == (
        "Kommuneoverlege",
        "Lillehammer",
        "Lillehammer legesenter",
    )
    assert supervisor.fields == ["urology", "general_practice"]
    assert (
        supervisor.email_verified_at is None
        and supervisor.phone is None
        and supervisor.language == "nb"
    )


async def _to_email_step(chat) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Clinical")
    await chat.press("GP")
    await chat.send("Storgata legekontor")
    await chat.press("Bergen")
    await chat.press("General practice")


async def test_the_one_tap_link_in_the_email_verifies_and_moves_on(john, services, settings):
    await _to_email_step(john)
    await john.send("john@legekontor.no")
    await services.sender.run_once()
    [mail] = mails(settings.mail_dir)
    from tests.helpers import link_token_in

    await john.command("start", link_token_in(mail))
    assert "Your email is verified" in john.texts()[-2]
    assert "Please check your details" in john.last().text
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and conv.data["email_verified_at"]


async def test_someone_else_opening_the_link_learns_nothing(john, kari, services, settings):
    await _to_email_step(john)
    await john.send("john@legekontor.no")
    await services.sender.run_once()
    from tests.helpers import link_token_in

    await kari.command("start", link_token_in(mails(settings.mail_dir)[0]))
    assert "ikke gyldig" in kari.last().text
    assert "john" not in kari.last().text.lower()
    conv, _ = await stored(services, john.user.id)
    assert conv is not None and not conv.data.get("email_verified_at")


async def test_a_wrong_code_is_refused_with_tries_left_and_an_expired_code_needs_a_new_one(
    john, services, settings, clock
):
    await _to_email_step(john)
    await john.send("john@legekontor.no")
    await services.sender.run_once()
    code = code_in(mails(settings.mail_dir)[0])
    wrong = "000000" if code != "000000" else "111111"
    await john.send(wrong)
    assert "not right. 4 tries left" in john.last().text
    clock.advance(timedelta(minutes=31))
    await john.send(code)
    assert "expired" in john.last().text
    await john.press("Send a new code")
    assert "new code is on its way" in john.last().text
    await services.sender.run_once()
    await john.send(code_in(mails(settings.mail_dir)[-1]))
    assert "Please check your details" in john.last().text


async def test_codes_are_limited_to_four_an_hour_per_person(john, services, settings):
    await _to_email_step(john)
    await john.send("john@legekontor.no")
    for _ in range(3):
        await john.press("Send a new code")
    await john.press("Send a new code")
    assert "wait before sending another" in john.last().text
    await services.sender.run_once()
    assert len(mails(settings.mail_dir)) == 4
