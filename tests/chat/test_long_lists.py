"""Lists that grow with the data reach the person whole: a coordinator with a month of 200 slots
gets every one of them in messages Telegram accepts (the fake Bot API refuses more than 4096
visible UTF-16 units or 100 buttons, and the application fixture fails on any refusal), each
slot with its own cancel button; a supervisor with many tasks pages through them."""

from __future__ import annotations

from datetime import date, timedelta

from bot.chat.telegram_html import utf16_len
from storage.models import Slot, SlotStatus, Task, TaskStatus
from tests.support import coordinator_fixtures
from tests.support.coordinators import bound_coordinator, supervisor_with_task

# The coordinators' stories: files served, the app wired as in production, and Nora.
fake, app, nora = coordinator_fixtures.fake, coordinator_fixtures.app, coordinator_fixtures.nora

MARCH = date(2027, 3, 1)


async def _month_of_slots(services, count: int) -> list[str]:
    """`count` slots starting in March 2027 (every seventh one cancelled), and one in April."""
    now = services.clock.now()
    references = []
    async with services.db.session() as session:
        for n in range(count):
            reference = f"SCOPE-2027-03-OSL-{n:03}"
            references.append(reference)
            session.add(
                Slot(
                    reference=reference,
                    exchange_type="clinical",
                    city="oslo",
                    start_date=MARCH + timedelta(days=n % 28),
                    weeks=4,
                    places=1 + n % 3,
                    filled=n % 2,
                    status=SlotStatus.CANCELLED if n % 7 == 6 else SlotStatus.OPEN,
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add(
            Slot(reference="SCOPE-2027-04-OSL-1", exchange_type="clinical", city="oslo",
                 start_date=date(2027, 4, 5), weeks=4, places=1, created_at=now, updated_at=now)
        )  # fmt: skip
    return references


async def test_a_coordinator_with_200_slots_in_a_month_reaches_every_one(services, nora, fake):
    references = await _month_of_slots(services, 200)
    await bound_coordinator(services, nora)
    mark = nora.mark()
    await nora.command("slots")

    shown = nora.new_messages(mark)
    march = [m for m in shown if m.text.startswith("Mar 2027\n")]
    assert len(march) >= 2, "a month this big takes more than one message"
    assert shown[-1].text.startswith("Apr 2027\n") and "SCOPE-2027-04-OSL-1" in shown[-1].text
    for message in shown:
        assert utf16_len(message.text) <= 4096
        assert len(message.button_texts) <= 100
    lines = [line for m in march for line in m.text.splitlines()[1:]]
    assert [line.split()[0] for line in lines] == sorted(references, key=_by_start)
    for message in march:  # each message's buttons belong to its own lines
        open_here = [line.split()[0] for line in message.text.splitlines()[1:] if "open" in line]
        assert message.button_texts == [f"Cancel {reference}" for reference in open_here]
    cancelled = [r for n, r in enumerate(references) if n % 7 == 6]
    assert sum(len(m.button_texts) for m in march) == 200 - len(cancelled)
    assert fake.violations == []

    holder = [m for m in march if m.button_texts][-1]  # the month's last open slot: far down
    assert holder is not march[0]
    last = holder.button_texts[-1].removeprefix("Cancel ")
    await nora.press(f"Cancel {last}", holder)
    assert f"Cancel the place {last}" in nora.last().text


def _by_start(reference: str) -> tuple[int, str]:
    n = int(reference.rsplit("-", 1)[1])
    return (n % 28, reference)


async def test_a_supervisor_with_many_tasks_pages_through_them(services, kari):
    first = await supervisor_with_task(services, kari, title="Task 000 " + "ø" * 150)
    now = services.clock.now()
    async with services.db.session() as session:
        for n in range(1, 130):
            session.add(
                Task(
                    supervisor_id=first.supervisor_id,
                    season=2027,
                    exchange_type="clinical",
                    title=f"Task {n:03} " + "ø" * 150,
                    field="cardiology",
                    city="oslo",
                    site="Ullevål",
                    weeks=4,
                    months=["2027-09"],
                    capacity=1,
                    backup_contact="Dr. B",
                    status=TaskStatus.APPROVED,
                    created_at=now,
                    updated_at=now,
                )
            )
    await kari.command("tasks")
    seen: list[str] = []
    pages = 0
    for _ in range(20):
        pages += 1
        page = kari.last()
        assert utf16_len(page.text) <= 4096 and len(page.button_texts) <= 100
        seen += [b for b in page.button_texts if b.startswith("Task ")]
        if "Neste side ›" not in page.button_texts:
            break
        await kari.press("Neste side")
    titles = {b.split()[1] for b in seen}
    assert titles == {f"{n:03}" for n in range(130)}
    assert pages > 1
    assert kari.last().text.endswith(f"Side {pages} av {pages}")
    await kari.press("Forrige side")
    assert kari.last().text.endswith(f"Side {pages - 1} av {pages}")


async def test_a_coordinator_with_25_pending_tasks_sees_them_ten_at_a_time(services, nora, kari):
    first = await supervisor_with_task(services, kari, title="Pending 00")
    now = services.clock.now()
    async with services.db.session() as session:
        for n in range(1, 25):
            session.add(
                Task(
                    supervisor_id=first.supervisor_id, season=2027, exchange_type="clinical",
                    title=f"Pending {n:02}", field="cardiology", city="oslo", site="Ullevål",
                    weeks=4, months=["2027-09"], capacity=1, backup_contact="Dr. B",
                    status=TaskStatus.SUBMITTED, created_at=now, updated_at=now,
                    submitted_at=now,
                )
            )  # fmt: skip
    await bound_coordinator(services, nora)
    mark = nora.mark()
    await nora.command("pending")
    shown = nora.new_messages(mark)
    assert shown[0].text == "Tasks waiting for approval: 25"
    assert len(shown) == 12 and shown[-1].text == "There are 15 more tasks waiting after these."
    await nora.press("Approve", shown[1])  # handled meanwhile: the next ones still follow on

    mark = nora.mark()
    await nora.press("Show the next ones", shown[-1])
    more = nora.new_messages(mark)
    assert shown[-1].button_texts == []
    assert more[-1].text == "There are 5 more tasks waiting after these."
    mark = nora.mark()
    await nora.press("Show the next ones")
    last = nora.new_messages(mark)
    assert last[0].button_texts == [] and len(last) == 6  # no more after these five
    assert all(
        m.button_texts == ["✅ Approve", "↩️ Return with a note", "🇬🇧 Add English"] for m in last[1:]
    )
    cards = {m.message_id: m for m in [*shown, *more, *last] if "Field: Cardiology" in m.text}
    assert len(cards) == 25  # every pending task, once
    approve = {m.buttons[0][0].callback_data for m in cards.values() if m.buttons}
    assert len(approve) == 24  # each its own; the one approved has no buttons left
