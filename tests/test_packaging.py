"""`pip install .` gives a working bot: templates, catalogs, migrations and reference data ship
inside the wheel and are found with importlib.resources, not from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("veileder-*.whl")
    return built


def test_the_wheel_carries_every_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "templates/locale/nb/LC_MESSAGES/messages.po",
        "templates/locale/en/LC_MESSAGES/messages.po",
        "templates/email/verify.html.j2",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        "bot/data/cities.csv",
        "bot/data/fields.csv",
    ):
        assert needed in names
    assert any(n.startswith("storage/migrations/versions/0001") for n in names)
    assert not any(n.startswith("tests/") for n in names)


def test_the_installed_wheel_migrates_and_renders_from_outside_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}
    env["PYTHONPATH"] = str(site)
    probe = (
        "import bot, templates, storage, pathlib, sys;"
        f"assert str(pathlib.Path(bot.__file__)).startswith({str(site)!r}), bot.__file__;"
        "from bot.core import i18n; from bot.domain import reference;"
        "assert i18n.catalog('nb')['btn.back'];"
        "assert len(reference.cities()) >= 5;"
        "from bot.core.emails import render; from datetime import datetime, UTC;"
        "s, m = render('verify', language='nb', recipient='a@b.no', mail_from='x@y.no',"
        " idempotency_key='k', now=datetime.now(UTC), name='<N>', code='123456',"
        " link='https://t.me/x?start=v_1', minutes=30);"
        "assert '&lt;N&gt;' in m.get_body(('html',)).get_content()"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=workdir, env=env, check=True, timeout=60)
    migrate = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert (workdir / "var" / "veileder.db").exists()
