"""What /help, a re-tapped invitation and an offer say, read as the person sees them."""

from __future__ import annotations

from bot.services.coordinators import INVITE_PREFIX
from storage import coordinators as store
from tests.chat.test_offers_chat import NOW, _propose, _slot, _supervisor
from tests.chat.test_profile import _register_unverified
from tests.support import coordinator_fixtures
from tests.support.chat import Chat, TgUser

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

ASTRID = TgUser(id=5551077, first_name="Astrid", last_name="Lie", language_code="nb")


async def _invite(services) -> str:
    async with services.db.session() as session:
        _, token = await store.add_coordinator(
            session, email="nora@nmf.example", role="LEO", exchange_type="clinical", city="oslo",
            language="en", now=services.clock.now(), secret=services.secret,
        )  # fmt: skip
    return INVITE_PREFIX + token


async def test_a_coordinators_help_lists_their_commands_with_digest_and_no_greeting(services, nora):
    await nora.command("start", await _invite(services))
    await nora.command("help")
    first, second = (m.text for m in nora.messages()[-2:])
    assert "now connected" not in first and "already connected" not in first
    assert "You are exchange coordinator for" in first and "LEO · Clinical · Oslo" in first
    for command in ("/pending", "/slots", "/addslot", "/propose", "/digest"):
        assert command in first, command
    assert "/mydata" in second and "/delete" in second and "/cancel" in second
    assert "/start — register" not in first + second and "/newtask" not in first + second


async def test_a_supervisors_help_lists_newtask_and_tasks(john):
    await _register_unverified(john)
    await john.command("help")
    shown = john.last().text
    assert "/newtask" in shown and "/tasks" in shown and "/mydata" in shown
    assert "/pending" not in shown and "/digest" not in shown


async def test_tapping_ones_own_invitation_again_says_already_connected(services, nora):
    link = await _invite(services)
    await nora.command("start", link)
    assert "now connected" in nora.last().text
    await nora.command("start", link)
    again = nora.last().text
    assert again.startswith("✅ Your Telegram account is already connected.")
    assert "used already" not in again and "/digest" in again


async def test_someone_else_tapping_a_used_invitation_is_told_it_does_not_work(
    services, nora, fake, app
):
    link = await _invite(services)
    await nora.command("start", link)
    stranger = Chat.in_process(fake, TgUser(id=5551078, first_name="Per", language_code="en"), app)
    await stranger.command("start", link)
    assert "This invitation link does not work" in stranger.last().text


async def test_a_research_offer_in_bokmal_says_forskningsutveksling(app, services, clock, fake):
    clock.current = NOW
    astrid = Chat.in_process(fake, ASTRID, app)
    await _supervisor(services, ASTRID, "Astrid Lie", language="nb")
    await _propose(app, services, await _slot(services))
    shown = astrid.last().text
    assert "Forskningsutveksling, 4 uker" in shown and "Forskning utveksling" not in shown
