"""Schema migrations, driven from code so an installed wheel can migrate without alembic.ini."""

from __future__ import annotations

import asyncio
from importlib.resources import as_file, files

from alembic import command
from alembic.config import Config


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("storage") / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`. Safe to run on every start."""
    with as_file(files("storage") / "migrations"):
        command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # Alembic's env.py starts its own event loop, so it runs in a worker thread here.
    await asyncio.to_thread(upgrade, url, revision)


def revision(url: str, message: str) -> None:
    """Autogenerate a new migration from the models (developers only: `make migration`)."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
