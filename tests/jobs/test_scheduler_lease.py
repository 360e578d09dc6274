"""Two scheduler processes on one database: only the holder of the lease row sweeps, on a
SQLite file as on PostgreSQL, and a killed leader is replaced once its lease has expired.

Before the lease row, SQLite's leader check was always true (so `run` plus `worker` both swept
and sent duplicate chat nudges) and PostgreSQL's advisory lock kept a connection "idle in
transaction" for the life of the process."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.jobs.scheduler import LEASE_NAME, Leadership
from storage import leases
from storage.db import Database

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LEASE_SECONDS = 2.0


async def test_the_lease_is_one_holders_until_it_expires(migrated_url: str) -> None:
    db = Database(migrated_url)
    ttl = timedelta(seconds=90)
    try:
        async with db.session() as s:
            assert await leases.hold(s, LEASE_NAME, "a", NOW, ttl)
        async with db.session() as s:
            assert not await leases.hold(s, LEASE_NAME, "b", NOW + timedelta(seconds=89), ttl)
        async with db.session() as s:  # the holder renews: the lease moves forward
            assert await leases.hold(s, LEASE_NAME, "a", NOW + timedelta(seconds=60), ttl)
        async with db.session() as s:
            assert not await leases.hold(s, LEASE_NAME, "b", NOW + timedelta(seconds=149), ttl)
        async with db.session() as s:  # not renewed in time: the other takes it over
            assert await leases.hold(s, LEASE_NAME, "b", NOW + timedelta(seconds=151), ttl)
        async with db.session() as s:
            assert not await leases.hold(s, LEASE_NAME, "a", NOW + timedelta(seconds=152), ttl)
            lease = await leases.current(s, LEASE_NAME)
        assert lease is not None and lease.holder == "b"
    finally:
        await db.close()


async def test_a_stopped_leader_hands_over_at_once(migrated_url: str) -> None:
    db = Database(migrated_url)
    first, second = Leadership(db), Leadership(db)
    try:
        assert await first.check()
        assert not await second.check()
        await first.release()
        assert await second.check()
        assert not await first.check()
    finally:
        await db.close()


@pytest.mark.postgres
async def test_on_postgresql_the_leader_leaves_no_connection_idle_in_transaction(
    migrated_postgres_url: str,
) -> None:
    db = Database(migrated_postgres_url)
    leadership = Leadership(db)
    try:
        assert await leadership.check()
        assert await leadership.check()  # renewed
        plain = migrated_postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as conn:
            states = conn.execute(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        assert all(not (state or "").startswith("idle in transaction") for (state,) in states)
    finally:
        await db.close()


def start_scheduler(database_url: str, workdir: Path, sweep_log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "DATABASE_", "SMTP_", "MAIL_", "SECRET_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        VAR_DIR=str(workdir / "var"),
        SECRET_KEY="s" * 40,
        SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS),
        SWEEP_LOG=str(sweep_log),
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.scheduler_worker"],
        cwd=workdir,  # no .env from the checkout
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def sweeps_in(sweep_log: Path) -> list[dict[str, Any]]:
    if not sweep_log.exists():
        return []
    return [json.loads(line) for line in sweep_log.read_text().splitlines() if line.strip()]


def wait_until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_one_at_a_time(records: list[dict[str, Any]]) -> None:
    ordered = sorted(records, key=lambda r: r["start"])
    for before, after in itertools.pairwise(ordered):
        if before["pid"] != after["pid"]:
            assert after["start"] >= before["end"], (before, after)


async def lease_expiry(database_url: str) -> datetime:
    db = Database(database_url)
    try:
        async with db.session() as s:
            lease = await leases.current(s, LEASE_NAME)
    finally:
        await db.close()
    assert lease is not None
    return lease.expires_at


@pytest.mark.slow
async def test_two_scheduler_processes_sweep_one_at_a_time_and_a_killed_leader_is_replaced(
    migrated_url: str, tmp_path: Path
) -> None:
    sweep_log = tmp_path / "sweeps.jsonl"
    first = start_scheduler(migrated_url, tmp_path, sweep_log)
    second = start_scheduler(migrated_url, tmp_path, sweep_log)
    processes = {first.pid: first, second.pid: second}
    try:
        wait_until(lambda: len(sweeps_in(sweep_log)) >= 4, 60, "four sweeps")
        records = sweeps_in(sweep_log)
        assert len({r["pid"] for r in records}) == 1, records  # the other stands by
        leader_pid = records[0]["pid"]
        standby_pid = next(pid for pid in processes if pid != leader_pid)

        processes[leader_pid].send_signal(signal.SIGKILL)
        processes[leader_pid].wait(10)
        killed_at = time.time()
        expires = await lease_expiry(migrated_url)
        assert expires.timestamp() <= killed_at + LEASE_SECONDS  # no renewal after death

        wait_until(
            lambda: any(r["pid"] == standby_pid for r in sweeps_in(sweep_log)),
            30,
            "the standby to take over",
        )
        records = sweeps_in(sweep_log)
        first_takeover = min(r["start"] for r in records if r["pid"] == standby_pid)
        assert first_takeover >= expires.timestamp()  # only after the dead leader's lease ran out
        assert_one_at_a_time(records)
        print(f"takeover {first_takeover - killed_at:.1f} s after the kill")
        assert processes[standby_pid].poll() is None
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(10)
