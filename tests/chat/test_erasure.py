"""After /delete, nothing of the person is left: not in any table, not in the files under var/."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import SQLModel

from tests.helpers import code_in, mails

NAME = "Ingrid Sæterdal"
EMAIL = "ingrid.saeterdal@helse-vest.no"


async def _register(chat, services, settings) -> None:
    await chat.command("start")
    await chat.press("I agree")
    await chat.press("Clinical")
    await chat.press("GP")
    await chat.send("Sæterdal legekontor")
    await chat.press("Bergen")
    await chat.press("General practice")
    await chat.send(EMAIL)
    await services.sender.run_once()
    await chat.send(code_in(mails(settings.mail_dir)[-1]))
    await chat.press("Name")
    await chat.send(NAME)
    await chat.press("Confirm")


async def _table_dump(services) -> str:
    rows: list[str] = []
    async with services.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            result = await session.execute(select(table))
            rows.extend(repr(tuple(row)) for row in result)
    return "\n".join(rows)


def _var_bytes(var_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in var_dir.rglob("*") if path.is_file())


async def test_delete_leaves_no_name_address_or_telegram_id_anywhere(john, services, settings):
    await _register(john, services, settings)
    await john.command("mydata")
    dump = await _table_dump(services)
    assert NAME in dump and EMAIL in dump  # the scan can see them while they are there
    assert EMAIL.encode() in _var_bytes(settings.var_dir)

    await john.command("delete")
    await john.press("Yes, erase everything")

    dump = await _table_dump(services)
    for needle in (NAME, EMAIL, str(john.user.id), "Sæterdal"):
        assert needle not in dump
    if services.db.is_sqlite:
        stored = _var_bytes(settings.var_dir)
        for needle in (NAME, EMAIL, "Sæterdal", "saeterdal"):
            assert needle.encode() not in stored, f"{needle} left in var/"
