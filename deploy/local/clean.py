"""``make clean``: remove ``.govit`` (local state), and the PostgreSQL data that root's
runs keep outside it when ``nobody`` cannot enter the checkout (see ``unprivileged``).

Standard library only, so it runs with the system Python: ``python3 -m deploy.local.clean``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from deploy.local.unprivileged import remove_relocated


def main(folders: list[str]) -> int:
    for folder in map(Path, folders):
        remove_relocated(folder)
        if folder.is_symlink():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or [".govit"]))
