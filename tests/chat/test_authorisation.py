"""Who may do what: every coordinator action, tried by every kind of party on a clinical task
and a clinical slot in Oslo, through the real application.

The parties: the Oslo clinical coordinator and a national clinical one (both in scope), a Bergen
clinical one (another city), an Oslo research one (another exchange type), and a registered
supervisor who is not a coordinator. Out-of-scope parties cannot see the buttons, so they press
correctly signed ones for the Oslo objects (as from a message made when their scope was wider,
or after it changed): the signature is theirs, the scope is not. For every pair the test checks
what the party sees, what the supervisor concerned sees, and that nothing out of scope changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlmodel import select

from bot.chat.telegram_html import parse_html
from bot.core.context import Services
from bot.core.i18n import Translator
from bot.domain.signing import Callback, encode_callback
from storage import coordinators as store
from storage.models import (
    Conversation,
    Coordinator,
    Offer,
    SeasonTarget,
    Slot,
    SlotStatus,
    Task,
    TaskStatus,
)
from tests.support import coordinators as support
from tests.support.chat import Chat, TgUser
from tests.support.coordinators import add_slot, bound_coordinator, supervisor_with_task
from tests.support.files import FilesTelegram, send_file

REFERENCE = "CLIN-2027-09-OSL-1"
HEADER = "reference,exchange_type,city,start_date,weeks,places,field_preference,partner_country\n"
KARI = TgUser(id=5552001, first_name="Kari", last_name="Lie", language_code="en")
JOHN = TgUser(id=5552002, first_name="John", last_name="Berg", language_code="en")
ACTOR = TgUser(id=5552100, first_name="Ada", last_name="Actor", language_code="en")

# Each party: its scope (role, exchange type, city), or None for a supervisor only.
PARTIES: dict[str, tuple[str, str, str] | None] = {
    "oslo clinical": ("LEO", "clinical", "oslo"),
    "national clinical": ("NEO", "clinical", "national"),
    "bergen clinical": ("LEO", "clinical", "bergen"),
    "oslo research": ("LORE", "research", "oslo"),
    "supervisor": None,
    "unbound": None,  # someone the bot holds nothing about
}
IN_SCOPE = {"oslo clinical", "national clinical"}


def en(message_id: str, **values: Any) -> str:
    return parse_html(Translator("en")(message_id, **values)).strip()


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Chat stories (45 of them); the scope queries are tested on both databases elsewhere."""
    return sqlite_url


@pytest.fixture
def fake() -> FilesTelegram:
    return FilesTelegram()


@pytest.fixture
async def app(settings, fake, clock):
    async with support.application(settings, fake, clock) as application:
        yield application


@dataclass
class World:
    services: Services
    fake: FilesTelegram
    actor: Chat
    kari: Chat  # the supervisor whose task waits for approval
    task: Task
    slot: Slot
    party: str

    @property
    def verdict(self) -> str:
        if PARTIES[self.party] is None:
            return "stranger"
        return "allowed" if self.party in IN_SCOPE else "denied"

    async def forged(self, scope_step: str, action: str, value: str = "") -> str:
        """Press a button correctly signed for the actor, for an object it may not touch."""
        step = scope_step
        data = encode_callback(
            Callback("cr", step, action, value),
            secret=self.services.secret,
            user_id=self.actor.user.id,
        )
        query = await self.actor.press_data(data, self.fake.last_message(self.actor.chat_id))
        answer = self.fake.callback_answer(query)
        assert answer is not None
        return answer.text or ""

    async def get(self, model: Any, key: int) -> Any:
        async with self.services.db.session() as session:
            return await session.get(model, key)

    async def offers(self) -> list[Offer]:
        async with self.services.db.session() as session:
            return list((await session.execute(select(Offer))).scalars())

    async def conversation(self) -> Conversation | None:
        async with self.services.db.session() as session:
            return await session.get(Conversation, self.actor.user.id)

    async def frequencies(self) -> dict[str, str]:
        async with self.services.db.session() as session:
            rows = (await session.execute(select(Coordinator))).scalars()
            return {row.email: row.digest_frequency for row in rows}

    def unknown(self) -> bool:
        return self.actor.last().text == en("unknown.command")


@pytest.fixture(params=list(PARTIES))
async def world(request, app, services, fake) -> World:
    party = request.param
    kari = Chat.in_process(fake, KARI, app)
    task = await supervisor_with_task(services, kari, title="Hjertesvikt på sengepost")
    john = Chat.in_process(fake, JOHN, app)
    await supervisor_with_task(services, john, title="Kardiologi", status=TaskStatus.APPROVED)
    slot = await add_slot(services, REFERENCE, start=date(2027, 9, 6), places=2)
    async with services.db.session() as session:  # an Oslo colleague, not bound yet
        await store.add_coordinator(
            session,
            email="colleague@nmf.example",
            role="LEO",
            exchange_type="clinical",
            city="oslo",
            language="en",
            now=services.clock.now(),
            secret=services.secret,
        )
    actor = Chat.in_process(fake, ACTOR, app)
    scope = PARTIES[party]
    if party == "unbound":
        await actor.command("start")  # the welcome stores nothing
    elif scope is None:
        await supervisor_with_task(services, actor, title="Forskning i Bergen", city="bergen")
        await actor.command("start")
    else:
        role, exchange_type, city = scope
        await bound_coordinator(
            services, actor, role=role, exchange_type=exchange_type, city=city, email="ada@x.no"
        )
    return World(services, fake, actor, kari, task, slot, party)


# ---- the actions ---------------------------------------------------------------------------------


async def list_pending(w: World) -> None:
    await w.actor.command("pending")
    shown = [m.text for m in w.actor.messages() if "Kari Lie" in m.text]  # the task's card
    if w.verdict == "allowed":
        assert len(shown) == 1 and "Kardiologisk avdeling" in shown[0]
    elif w.verdict == "denied":
        assert w.actor.last().text == en("coord.pending.none") and shown == []
    else:
        assert w.unknown() and shown == []


async def approve(w: World) -> None:
    before = len(w.kari.messages())
    if w.verdict == "allowed":
        await w.actor.command("pending")
        await w.actor.press("Approve")
        assert en("coord.task.approved") in w.actor.last().text
    else:
        assert await w.forged("t", "ok", str(w.task.id)) == en("btn.stale")
    task = await w.get(Task, w.task.id or 0)
    told = [m.text for m in w.kari.messages()[before:]]
    if w.verdict == "allowed":
        assert task.status == TaskStatus.APPROVED
        assert told == [en("coord.notify.approved", title=w.task.title)]
    else:
        assert task.status == TaskStatus.SUBMITTED and told == []


async def give_back(w: World) -> None:
    before = len(w.kari.messages())
    if w.verdict == "allowed":
        await w.actor.command("pending")
        await w.actor.press("Return with a note")
        await w.actor.send("Please name the department")
    else:
        assert await w.forged("t", "ret", str(w.task.id)) == en("btn.stale")
        assert await w.conversation() is None  # not asked for a note either
    task = await w.get(Task, w.task.id or 0)
    told = [m.text for m in w.kari.messages()[before:]]
    if w.verdict == "allowed":
        assert task.status == TaskStatus.RETURNED
        assert told and "Please name the department" in told[0]
    else:
        assert task.status == TaskStatus.SUBMITTED and told == []


async def list_slots(w: World) -> None:
    await w.actor.command("slots")
    if w.verdict == "allowed":
        assert REFERENCE in w.actor.last().text
    elif w.verdict == "denied":
        assert w.actor.last().text == en("coord.slots.none")
    else:
        assert w.unknown()


async def cancel_slot(w: World) -> None:
    if w.verdict == "allowed":
        await w.actor.command("slots")
        await w.actor.press(f"Cancel {REFERENCE}")
        await w.actor.press("Yes, cancel the place")
    else:
        stale = en("coord.slot.stale" if w.verdict == "denied" else "btn.stale")
        assert await w.forged("s", "cx", str(w.slot.id)) == stale
        assert await w.forged("s", "cy", str(w.slot.id)) == stale
    slot = await w.get(Slot, w.slot.id or 0)
    expected = SlotStatus.CANCELLED if w.verdict == "allowed" else SlotStatus.OPEN
    assert slot.status == expected


async def propose(w: World) -> None:
    await w.actor.command("propose", REFERENCE)
    made = await w.offers()
    if w.verdict == "allowed":
        assert w.actor.last().text.startswith(f"Asked about {REFERENCE}: 1 supervisor.")
        assert len(made) == 1
    else:
        if w.verdict == "denied":  # the place is not revealed
            assert w.actor.last().text == en("coord.propose.unknown", reference=REFERENCE)
        else:
            assert w.unknown()
        assert made == []


async def add_slot_here(w: World) -> None:
    await w.actor.command("addslot")
    if w.verdict == "stranger":
        assert w.unknown() and await w.conversation() is None
        return
    await w.actor.send("NEW-2027-09-1")
    if w.verdict == "allowed":
        if w.party == "national clinical":
            await w.actor.press("Oslo")
    else:
        for step, value in (("a_type", "clinical"), ("a_city", "oslo")):
            await w.forged(step, "v", value)
    conv = await w.conversation()
    assert conv is not None
    here = (conv.data.get("exchange_type"), conv.data.get("city")) == ("clinical", "oslo")
    assert here == (w.verdict == "allowed")


async def upload(w: World) -> None:
    """A file that would move the Oslo slot into the actor's own area (and add a place)."""
    scope = PARTIES[w.party] or ("", "clinical", "bergen")
    _, exchange_type, city = scope
    city = "oslo" if city == "national" else city
    row = f"{REFERENCE},{exchange_type},{city},2027-09-06,4,3,,Chile\n"
    await send_file(w.actor, w.fake, "slots.csv", (HEADER + row).encode())
    slot = await w.get(Slot, w.slot.id or 0)
    reply = w.actor.last().text
    if w.verdict == "allowed":
        assert "Slot list imported: 0 new, 1 changed" in reply
        assert (slot.city, slot.places) == ("oslo", 3)
        return
    if w.verdict == "denied":
        assert en("coord.csv.taken", value=REFERENCE) in reply
        assert "oslo" not in reply.lower()  # the other slot's area is not revealed
    else:
        assert w.fake.downloads == []  # just another message
    assert (slot.exchange_type, slot.city, slot.places, slot.partner_country) == (
        "clinical",
        "oslo",
        2,
        None,
    )


async def digest_settings(w: World) -> None:
    await w.actor.command("digest")
    if w.verdict == "stranger":
        assert w.unknown()
    else:
        await w.actor.press("Every morning")
    frequencies = await w.frequencies()
    assert frequencies["colleague@nmf.example"] == "weekly"  # another person's setting
    if w.verdict != "stranger":
        assert frequencies["ada@x.no"] == "daily"


async def set_target(w: World) -> None:
    """Targets are national: of the parties only the national clinical coordinator sets one."""
    await w.actor.command("target", "2027 clinical 10")
    async with w.services.db.session() as session:
        found = [
            (t.season, t.needed) for t in (await session.execute(select(SeasonTarget))).scalars()
        ]
    if w.party == "national clinical":
        assert w.actor.last().text.startswith("✅ Saved: season 2027/28.")
        assert found == [(2027, 10)]
    elif w.verdict == "stranger":
        assert w.unknown() and found == []
    else:
        assert w.actor.last().text == en("coord.target.not_allowed", type="Clinical")
        assert found == []


async def add_english(w: World) -> None:
    """ "Add English" on a pending task's card opens the coordinator's English flow."""
    if w.verdict == "allowed":
        await w.actor.command("pending")
        await w.actor.press("Add English")
    else:
        assert await w.forged("t", "en", str(w.task.id)) == en("btn.stale")
    conv = await w.conversation()
    if w.verdict == "allowed":
        assert conv is not None and conv.flow == "coord_english"
    else:
        assert conv is None


async def more_pending(w: World) -> None:
    """The "more" button under a long /pending: the next cards of the presser's own scope."""
    answer = await w.forged("p", "more", str(w.task.id))
    shown = [m.text for m in w.actor.messages() if "Kari Lie" in m.text]
    if w.verdict == "stranger":
        assert answer == en("btn.stale")
    else:
        assert answer == "" and w.actor.last().text == en("coord.pending.none")
    assert shown == []  # nothing after Kari's task; nobody else's card either


async def propose_now(w: World) -> None:
    """ "Propose now" under a notice of a place given back: the same as /propose."""
    answer = await w.forged("s", "pn", str(w.slot.id))
    made = await w.offers()
    if w.verdict == "allowed":
        assert w.actor.last().text.startswith(f"Asked about {REFERENCE}: 1 supervisor.")
        assert len(made) == 1
    elif w.verdict == "denied":
        assert w.actor.last().text == en("coord.propose.unknown", reference=REFERENCE)
        assert made == []
    else:
        assert answer == en("btn.stale") and made == []


ACTIONS: dict[str, Callable[[World], Awaitable[None]]] = {
    "list pending": list_pending,
    "approve": approve,
    "return with a note": give_back,
    "/slots": list_slots,
    "cancel a slot": cancel_slot,
    "/propose": propose,
    "/addslot": add_slot_here,
    "upload a CSV": upload,
    "digest settings": digest_settings,
    "/target": set_target,
    "add English": add_english,
    "more pending": more_pending,
    "propose now": propose_now,
}


@pytest.mark.parametrize("action", list(ACTIONS))
async def test_each_party_may_do_exactly_what_its_scope_allows(world: World, action: str):
    await ACTIONS[action](world)
    if action not in ("approve", "return with a note"):
        task = await world.get(Task, world.task.id or 0)
        assert task.status == TaskStatus.SUBMITTED  # no other action touches the task
    if action not in ("upload a CSV", "cancel a slot"):
        slot = await world.get(Slot, world.slot.id or 0)
        assert (slot.city, slot.places, slot.status) == ("oslo", 2, SlotStatus.OPEN)


async def test_a_slot_moved_by_a_file_is_refused_even_when_it_appears_meanwhile(services):
    """The import itself refuses another area's slot (if it was added after the check)."""
    from bot.chat.flows.coordinator.upload import out_of_scope
    from bot.domain.slots_csv import parse
    from storage import slots

    await add_slot(services, REFERENCE)
    async with services.db.session() as session:
        bergen = Coordinator(
            email="b@x.no",
            role="LEO",
            exchange_type="clinical",
            city="bergen",
            language="en",
            invited_at=services.clock.now(),
        )
        rows, errors = parse(HEADER + f"{REFERENCE},clinical,bergen,2027-09-06,4,3,,\n")
        assert errors == [] and out_of_scope(rows, [bergen]) == []  # the file alone looks fine
        report = await slots.import_slots(
            session, rows, services.clock.now(), may_change=lambda s: s.city == "bergen"
        )
        assert [e.reason_id for e in report.refused] == ["coord.csv.taken"]
        [slot] = await slots.slots_by_reference(session, [REFERENCE])
    assert (slot.city, slot.places) == ("oslo", 2)
