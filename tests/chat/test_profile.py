"""A registered supervisor's /start: the profile menu, editing one field, language, verifying."""

from __future__ import annotations

from tests.helpers import code_in, mails, stored


async def _register_unverified(chat) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Clinical")
    await chat.press("Senior consultant")
    await chat.send("St. Olavs hospital")
    await chat.press("Trondheim")
    await chat.press("Cardiology")
    await chat.send("john@stolav.no")
    await chat.press("Verify later")
    await chat.press("Confirm")


async def test_start_shows_the_profile_menu_instead_of_registration(john):
    await _register_unverified(john)
    await john.command("start")
    menu = john.last()
    assert "Your supervisor profile" in menu.text and "St. Olavs hospital" in menu.text
    assert {"✏️ Edit a field", "✉️ Verify email"} <= set(menu.button_texts)


async def test_editing_one_field_changes_only_that_field(john, services):
    await _register_unverified(john)
    await john.command("start")
    await john.press("Edit a field")
    await john.press("City")
    await john.press("Bergen")
    assert "Saved" in john.texts()[-2] and "Bergen" in john.last().text
    _, supervisor = await stored(services, john.user.id)
    assert (
        supervisor is not None
        and supervisor.city == "bergen"
        and supervisor.workplace == "St. Olavs hospital"
    )


async def test_backing_out_of_an_edit_changes_nothing(john, services):
    await _register_unverified(john)
    await john.command("start")
    await john.press("Edit a field")
    await john.press("Fields")
    await john.press("Psychiatry")
    await john.press("Back")
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None and supervisor.fields == ["cardiology"]
    assert "Nothing was changed" in john.texts()[-2]


async def test_switching_language_redraws_the_menu_in_bokmal(john, services):
    await _register_unverified(john)
    await john.command("start")
    await john.press("Bytt til norsk")
    assert "Veilederprofilen din" in john.last().text
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None and supervisor.language == "nb"


async def test_verifying_later_from_the_menu_with_the_emailed_code(john, services, settings):
    await _register_unverified(john)
    await john.command("start")
    await john.press("Verify email")
    await services.sender.run_once()
    await john.send(code_in(mails(settings.mail_dir)[-1]))
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None and supervisor.email_verified_at is not None
    assert "(verified)" in john.last().text


async def test_changing_the_email_needs_a_new_verification(john, services, settings):
    await _register_unverified(john)
    await john.command("start")
    await john.press("Edit a field")
    await john.press("Email")
    await john.send("new.address@stolav.no")
    assert "6-digit code to new.address@stolav.no" in john.last().text
    await services.sender.run_once()
    await john.send(code_in(mails(settings.mail_dir)[-1]))
    _, supervisor = await stored(services, john.user.id)
    assert supervisor is not None
    assert supervisor.email == "new.address@stolav.no" and supervisor.email_verified_at is not None
