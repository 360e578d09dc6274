"""Answering a request that came by email: `python -m bot privacy export|erase|audit` find the
person by their address, export what /mydata would give, and erase as /delete does."""

from __future__ import annotations

import argparse
import json
import stat

from bot.cli import privacy as cli
from storage import audit, repository
from tests.support.coordinators import supervisor_with_task

EMAIL = "JOHN@ous-hf.example"  # as the request was typed: addresses match in any case


def _args(action: str, **values: object) -> argparse.Namespace:
    return argparse.Namespace(command="privacy", privacy_action=action, **values)


async def test_an_operator_exports_then_erases_a_person_by_email(
    services, settings, john, clock, tmp_path, capsys
):
    await supervisor_with_task(services, john, title="Heart failure clinic")
    out = tmp_path / "john.json"

    assert await cli.dispatch(_args("export", email=EMAIL, out=out), settings) == 0
    exported = json.loads(out.read_text())
    assert exported["supervisors"][0]["profile"]["name"] == "John Smith"
    assert exported["supervisors"][0]["tasks"][0]["title"] == "Heart failure clinic"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    assert await cli.dispatch(_args("erase", email=EMAIL, yes=False), settings) == 0
    assert "Would erase JOHN@ous-hf.example: 1 supervisor profile and" in capsys.readouterr().out
    async with services.db.session() as session:
        assert await repository.get_supervisor(session, john.user.id) is not None

    assert await cli.dispatch(_args("erase", email=EMAIL, yes=True), settings, clock=clock) == 0
    assert "profiles 1, tasks 1" in capsys.readouterr().out
    async with services.db.session() as session:
        assert await repository.get_supervisor(session, john.user.id) is None
        entries = await audit.entries(session)
    assert [(e.kind, e.counts["profiles"]) for e in entries] == [("operator", 1)]

    assert await cli.dispatch(_args("audit"), settings) == 0
    assert "operator" in capsys.readouterr().out
    assert await cli.dispatch(_args("export", email=EMAIL, out=None), settings) == 1
    assert "Nothing is stored under JOHN@ous-hf.example." in capsys.readouterr().out
