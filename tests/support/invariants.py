"""What must hold in the database after anything a person does: written as SQL over the real
tables, so the whole-bot fuzz test (tests/chat/test_fuzz.py) can check them after every step.

Each check returns the rows that break it (empty when all is well), so a failure names them.
Statuses are compared in upper case: SQLAlchemy stores an enum's name (`ACCEPTED`).
Foreign keys are enforced by the database itself; these are the links it cannot see: rows keyed
by a Telegram account that nothing else knows any more, counters that must match their rows, and
places that must be held by an approved task.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bot.core.context import Services

# A person is known while any of these holds them: a profile, a draft, a coordinator's binding.
_KNOWN = """
    SELECT telegram_user_id FROM supervisor
    UNION SELECT telegram_user_id FROM conversation
    UNION SELECT telegram_user_id FROM coordinator WHERE telegram_user_id IS NOT NULL
"""

_ACCEPTED = """
    SELECT count(*) FROM offer WHERE offer.slot_id = slot.id AND upper(offer.status) = 'ACCEPTED'
"""

CHECKS: dict[str, str] = {
    # Rows about a person that outlived the person (after /delete, an expired draft, ...).
    "verification of nobody": f"""
        SELECT id, telegram_user_id FROM email_verification
        WHERE telegram_user_id NOT IN ({_KNOWN})""",
    "email of nobody": f"""
        SELECT id, kind, telegram_user_id FROM outbox_email
        WHERE telegram_user_id IS NOT NULL AND telegram_user_id NOT IN ({_KNOWN})""",
    "open question of nobody": f"""
        SELECT id, subject, telegram_user_id FROM question
        WHERE answered_at IS NULL AND telegram_user_id NOT IN ({_KNOWN})""",
    # An offer is made to a task's own supervisor.
    "offer to someone else's task": """
        SELECT offer.id FROM offer JOIN task ON task.id = offer.task_id
        WHERE task.supervisor_id != offer.supervisor_id""",
    # A slot's filled counter is its accepted offers, never more than its places.
    "filled differs from accepted offers": f"""
        SELECT slot.id, slot.filled, ({_ACCEPTED}) AS accepted FROM slot
        WHERE slot.filled != ({_ACCEPTED})""",
    "more filled than places": "SELECT id, filled, places FROM slot WHERE filled > places",
    # Every accepted place is held by exactly one task, and that task is approved.
    "place held by a task not approved": """
        SELECT offer.id, task.status FROM offer JOIN task ON task.id = offer.task_id
        WHERE upper(offer.status) = 'ACCEPTED' AND upper(task.status) != 'APPROVED'""",
    "a task holding two places of one slot": """
        SELECT task_id, slot_id FROM offer WHERE upper(status) = 'ACCEPTED'
        GROUP BY task_id, slot_id HAVING count(*) > 1""",
    "a place accepted in a cancelled slot": """
        SELECT offer.id FROM offer JOIN slot ON slot.id = offer.slot_id
        WHERE upper(offer.status) = 'ACCEPTED' AND upper(slot.status) = 'CANCELLED'""",
    # A draft belongs to one chat, its owner's (private chats only).
    "draft in another chat": "SELECT telegram_user_id FROM conversation WHERE chat_id != "
    "telegram_user_id",
}


async def broken(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every check that fails, with the rows that break it."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with services.db.session() as session:
        for name, query in CHECKS.items():
            rows = [tuple(row) for row in (await session.execute(text(query))).all()]
            if rows:
                found[name] = rows
    return found
