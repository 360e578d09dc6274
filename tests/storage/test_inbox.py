"""The inbox on both databases: an update is kept once, processed until done, purged after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import inbox, repository
from storage.db import Database
from storage.inbox import Received

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _update(update_id: int, user_id: int | None = 7) -> Received:
    return Received(update_id, user_id, {"update_id": update_id, "message": {"text": "hei"}})


async def test_an_update_delivered_again_is_kept_once_and_done_stays_done(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        await inbox.store(s, [_update(10), _update(11)], NOW)
    async with db.session() as s:
        assert await inbox.mark_done(s, 10, NOW)
    async with db.session() as s:  # Telegram sends both again (the offset was not confirmed)
        await inbox.store(s, [_update(10), _update(11), _update(12)], NOW)
    async with db.session() as s:
        pending = await inbox.pending(s)
        again = await inbox.pending(s, [10, 11])
        assert not await inbox.mark_done(s, 10, NOW)  # done once
    await db.close()
    assert [row.update_id for row in pending] == [11, 12]
    assert [row.update_id for row in again] == [11]
    assert pending[0].payload == {"update_id": 11, "message": {"text": "hei"}}
    assert pending[0].telegram_user_id == 7


async def test_ids_are_not_assumed_to_rise(migrated_url):
    """After a week without updates Telegram may go on from a random, lower, id."""
    db = Database(migrated_url)
    async with db.session() as s:
        await inbox.store(s, [_update(900_000_000)], NOW)
        await inbox.mark_done(s, 900_000_000, NOW)
        await inbox.store(s, [_update(5), _update(6)], NOW)
    async with db.session() as s:
        pending = await inbox.pending(s)
    await db.close()
    assert [row.update_id for row in pending] == [5, 6]


async def test_done_rows_are_purged_and_pending_ones_kept(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        await inbox.store(s, [_update(1), _update(2), _update(3)], NOW)
        await inbox.mark_done(s, 1, NOW)
        await inbox.mark_done(s, 2, NOW + timedelta(minutes=5))
    async with db.session() as s:
        purged = await inbox.purge_done(s, NOW + timedelta(minutes=1))
    async with db.session() as s:
        left = await inbox.count_of(s, 7)
        pending = await inbox.pending(s)
    await db.close()
    assert purged == 1
    assert left == 2
    assert [row.update_id for row in pending] == [3]


async def test_mydata_counts_and_delete_erases_a_persons_done_updates(migrated_url):
    db = Database(migrated_url)
    async with db.session() as s:
        await inbox.store(s, [_update(1), _update(2), _update(3, 8), _update(4, None)], NOW)
        await inbox.mark_done(s, 1, NOW)
        await inbox.mark_done(s, 3, NOW)
    async with db.session() as s:
        exported = await repository.export_person(s, 7)
        await repository.erase_person(s, 7)
    async with db.session() as s:
        mine, theirs = await inbox.count_of(s, 7), await inbox.count_of(s, 8)
        pending = await inbox.pending(s)
    await db.close()
    assert exported["updates_held"] == 2
    # The one not yet processed stays until it is (then the purge takes it): none is lost.
    assert mine == 1
    assert theirs == 1
    assert [row.update_id for row in pending] == [2, 4]
