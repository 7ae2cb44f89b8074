"""Alembic, driven from code: each service keeps ``services/<name>/migrations``.

``python -m shared.db.migrate registry upgrade`` migrates one service's database
(``GOVIT_DATABASE_URL``); ``... registry revision -m "add x" --autogenerate`` writes a
new revision. Each service's ``env.py`` is two lines that call ``run_migrations``.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import REPO_ROOT, GovitSettings


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(REPO_ROOT / "services" / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("version_table", "alembic_version")
    return cfg


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Blocking: call it from a thread when an event loop is already running."""
    command.upgrade(alembic_config(service, url), revision)


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every service's ``env.py``."""
    url = context.config.get_main_option("sqlalchemy.url") or GovitSettings().database_url
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run_sync(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run_sync)
        await engine.dispose()

    asyncio.run(run_async())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("upgrade")
    revision = sub.add_parser("revision")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("GOVIT_DATABASE_URL") or GovitSettings().database_url
    cfg = alembic_config(args.service, url)
    if args.action == "upgrade":
        command.upgrade(cfg, "head")
    else:
        command.revision(cfg, message=args.message, autogenerate=args.autogenerate)


if __name__ == "__main__":
    main()
