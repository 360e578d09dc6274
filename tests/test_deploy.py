"""The deployment files (Dockerfile, compose.yaml, the systemd units) name only what exists: real
settings, real `python -m bot` commands, no secret in the image. Where a Docker daemon answers,
the image is built and its bot answers /healthz; elsewhere that story is skipped, saying why."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import _parser
from bot.core.settings import Settings
from tests.support.botapi.server import BotApiServer

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {name.upper() for name in Settings.model_fields}
TOKEN = "123456789:TEST-token-for-the-docker-image"


def _commands_parse(argv: list[str]) -> None:
    """`python -m bot ARGS` would run (argparse exits on an unknown command or option)."""
    _parser().parse_args(argv)


# --- compose.yaml -------------------------------------------------------------------------------


def _service_environments(text: str) -> dict[str, dict[str, str]]:
    """Each service's `environment:` mapping, read by indentation (the file keeps to plain
    block mappings, so no YAML parser is needed to read these)."""
    services: dict[str, dict[str, str]] = {}
    section, service, in_env = "", "", False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        if indent == 0:
            section, in_env = key, False
        elif indent == 2 and section == "services":
            service, in_env = key, False
            services[service] = {}
        elif indent == 4:
            in_env = key == "environment"
        elif indent == 6 and in_env:
            services[service][key] = value.strip()
    return services


def _compose_commands(text: str) -> dict[str, list[str]]:
    found = re.findall(r"^  (\w+):\n(?:    .*\n)*?    command: (\[.*\])$", text, re.MULTILINE)
    return {service: json.loads(command) for service, command in found}


def test_compose_runs_the_bot_and_a_worker_on_postgresql_with_real_settings():
    text = (ROOT / "compose.yaml").read_text()
    environments = _service_environments(text)
    assert set(environments) == {"db", "bot", "worker"}
    for service in ("bot", "worker"):
        assert set(environments[service]) <= SETTINGS, f"{service} sets unknown settings"
        assert environments[service]["DATABASE_URL"].startswith("postgresql+psycopg://")
    commands = _compose_commands(text)
    assert commands == {"bot": ["run", "--no-migrate"], "worker": ["worker", "--no-migrate"]}
    for command in commands.values():
        _commands_parse(command)
    assert text.count("env_file: .env") == 2
    lines = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "SECRET_KEY" not in lines and "TELEGRAM_BOT_TOKEN" not in lines, "secrets stay in .env"
    # Only the bot binds the web port, and only on this host's loopback (for the TLS proxy).
    assert re.findall(r'- "(.*:8080)"', text) == ["127.0.0.1:8080:8080"]


@pytest.mark.skipif(
    importlib.util.find_spec("yaml") is None, reason="no YAML parser installed (PyYAML)"
)
def test_compose_is_valid_yaml_that_reads_as_the_indentation_says():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "compose.yaml").read_text()
    document = yaml.safe_load(text)
    for service, environment in _service_environments(text).items():
        loaded = document["services"][service].get("environment", {})
        assert {key: str(value) for key, value in loaded.items()}.keys() == environment.keys()
    assert document["services"]["bot"]["command"] == ["run", "--no-migrate"]


# --- the Dockerfile -----------------------------------------------------------------------------


def test_the_image_runs_as_a_user_with_no_secret_and_migrates_before_the_command():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    baked = re.findall(r"^(?:ENV|ARG)\b.*", dockerfile, re.MULTILINE | re.DOTALL)
    assert not re.search(r"TOKEN|SECRET|PASSWORD", "\n".join(baked)), "no secret baked in"
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["veileder-entrypoint"]' in dockerfile
    _commands_parse(json.loads(re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)[-1]))
    entrypoint = (ROOT / "deploy" / "entrypoint.sh").read_text().splitlines()
    runs = [line for line in entrypoint if line and not line.startswith(("#", "set "))]
    assert runs == ["python -m bot migrate", 'exec python -m bot "$@"']
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", "var/", ".venv/"} <= set(ignored)


# --- systemd ------------------------------------------------------------------------------------


def _unit(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (ROOT / "deploy" / name).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def _bot_argv(exec_start: str) -> list[str]:
    """The `python -m bot` command line of an ExecStart, through `/bin/sh -c 'exec ...'`."""
    argv = shlex.split(exec_start)
    if argv[:2] == ["/bin/sh", "-c"]:
        argv = shlex.split(argv[2].replace("%%", "%"))
        argv = argv[1:] if argv[0] == "exec" else argv
    assert argv[0].startswith("/") and Path(argv[0]).name.startswith("python")
    assert argv[1:3] == ["-m", "bot"]
    return argv[3:]


@pytest.mark.parametrize(
    ("unit", "command"),
    [
        ("veileder.service", "run"),
        ("veileder-worker.service", "worker"),
        ("veileder-backup.service", "backup"),
    ],
)
def test_the_systemd_units_run_a_real_command_as_their_own_user_with_only_var_writable(
    unit, command
):
    service = _unit(unit)
    argv = _bot_argv(service["ExecStart"][0])
    assert argv[0] == command
    _commands_parse(argv)
    assert service["User"] == ["veileder"] and service["Group"] == ["veileder"]
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    var_dir = next(v.split("=", 1)[1] for v in service["Environment"] if v.startswith("VAR_DIR="))
    assert service["ReadWritePaths"] == [var_dir]
    assert service["StateDirectory"][0].split()[0] == Path(var_dir).name
    assert service["WorkingDirectory"] == [var_dir], "the installed package, not a checkout"
    assert service["StateDirectoryMode"] == ["0700"] and service["UMask"] == ["0077"]
    if command != "backup":
        assert service["RestartPreventExitStatus"] == ["2"], "a setting to fix is not restarted"
    assert {value.split("=", 1)[0] for value in service["Environment"]} <= SETTINGS
    assert service["EnvironmentFile"][0].startswith("/etc/"), "settings outside the code"


# --- the image, where Docker is --------------------------------------------------------------


def _docker() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker command on PATH: the image is not built here")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        pytest.skip(f"no Docker daemon reachable (`docker info`: {reason})")
    return docker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _image(docker: str) -> Iterator[str]:
    tag = f"veileder-test:{uuid.uuid4().hex[:12]}"
    built = subprocess.run(
        [docker, "build", "--tag", tag, str(ROOT)], capture_output=True, text=True, timeout=1800
    )
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        yield tag
    finally:
        subprocess.run([docker, "image", "rm", "--force", tag], capture_output=True, check=False)


def _healthz(port: int, container: str, docker: str) -> tuple[int, object]:
    """Ask until the bot answers 200 (it migrates, checks the Bot API and elects a scheduler
    leader first), has stopped, or has answered something else for two minutes."""
    answered: tuple[int, object] = (0, "no answer")
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as answer:
            answered = (answer.code, json.loads(answer.read()))
        except OSError:
            running = subprocess.run(
                [docker, "inspect", "--format", "{{.State.Running}}", container],
                capture_output=True,
                text=True,
                check=False,
            )
            if running.stdout.strip() != "true":
                logs = subprocess.run([docker, "logs", container], capture_output=True, text=True)
                pytest.fail(f"the container stopped before answering:\n{logs.stderr[-3000:]}")
        time.sleep(0.5)
    return answered


@pytest.mark.slow
def test_the_image_builds_and_its_bot_answers_healthz_as_a_user_other_than_root(tmp_path):
    docker = _docker()
    port = _free_port()
    with _image(docker) as tag, BotApiServer() as telegram:
        started = subprocess.run(
            [
                *(docker, "run", "--detach", "--network=host"),
                *("--env", f"TELEGRAM_BOT_TOKEN={TOKEN}"),
                *("--env", f"TELEGRAM_API_BASE_URL={telegram.base_url}"),
                *("--env", "WEB_HOST=127.0.0.1", "--env", f"WEB_PORT={port}", tag),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        container = started.stdout.strip()
        try:
            status, body = _healthz(port, container, docker)
            assert status == 200, body
            user = subprocess.run(
                [docker, "exec", container, "id", "-u"], capture_output=True, text=True
            )
            assert user.stdout.strip() not in {"", "0"}
            private = subprocess.run(
                [docker, "exec", container, "stat", "-c", "%a", "/var/lib/veileder"],
                capture_output=True,
                text=True,
            )
            assert private.stdout.strip() == "700"
        finally:
            subprocess.run([docker, "rm", "--force", container], capture_output=True, check=False)
