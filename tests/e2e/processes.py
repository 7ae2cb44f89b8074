"""The processes a ``make up`` run started, found by the GOVIT_HOME in their environment."""

from __future__ import annotations

from pathlib import Path


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def processes_with_home(home: Path) -> list[int]:
    """PIDs whose environment carries this run's GOVIT_HOME: everything it started."""
    marker = f"GOVIT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def long_lived(home: Path) -> dict[int, list[str]]:
    """The launcher's processes without PostgreSQL's backends, which come and go with
    the connections (those of a killed service go with it)."""
    found = {pid: command_line(pid) for pid in processes_with_home(home)}
    return {pid: cmd for pid, cmd in found.items() if cmd and not cmd[0].startswith("postgres:")}


def uvicorn_of(home: Path, service: str) -> list[int]:
    """The uvicorn process serving ``service`` (not its keep_running supervisor)."""
    target = f"services.{service}.app:build_app"
    return [
        pid
        for pid, cmd in long_lived(home).items()
        if cmd[1:3] == ["-m", "uvicorn"] and target in cmd
    ]


def nats_of(home: Path) -> list[int]:
    return [pid for pid, cmd in long_lived(home).items() if Path(cmd[0]).name == "nats-server"]
