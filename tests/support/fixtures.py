"""Session fixtures: the real PostgreSQL and NATS, test databases, signing keys, tokens.

``make test`` starts its own servers here, on free ports, from the project's wheels.
``DATABASE_URL`` / ``NATS_URL`` point the tests at external servers instead.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from deploy.local.stack import Nats, Postgres, free_port
from deploy.local.unprivileged import remove_relocated
from shared.auth import DevKeys, ensure_dev_keys, mint_token
from shared.settings import REPO_ROOT, GovitSettings
from tests.support.databases import Databases

ISSUER = "https://id.govit.test"
AUDIENCE = "govit"


@dataclass
class Stack:
    server_url: str
    nats_url: str
    root: Path


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    root = REPO_ROOT / ".govit" / f"test-{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    pg = nats = None
    try:
        server_url = os.environ.get("DATABASE_URL")
        if not server_url:
            pg = Postgres(root / "pg", free_port(), fast=True)
            pg.start(root / "postgres.log")
            server_url = pg.admin_url
        nats_url = os.environ.get("NATS_URL")
        if not nats_url:
            nats = Nats(root / "nats", free_port(), free_port())
            nats.start(root / "nats.log")
            nats_url = nats.url
        yield Stack(server_url=server_url, nats_url=nats_url, root=root)
    finally:
        if nats:
            nats.stop()
        if pg:
            pg.stop()
        remove_relocated(root)  # root's data outside a checkout nobody can enter
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def databases(stack: Stack) -> AsyncIterator[Databases]:
    dbs = Databases(stack.server_url, prefix=f"govit_test_{os.getpid()}")
    yield dbs
    await dbs.drop_all()


@pytest.fixture(scope="session")
def dev_keys(stack: Stack) -> DevKeys:
    return ensure_dev_keys(stack.root / "keys")


TokenFactory = Callable[..., str]
SettingsT = TypeVar("SettingsT", bound=GovitSettings)


def service_settings(
    settings_class: type[SettingsT], stack: Stack, database_url: str, **overrides: Any
) -> SettingsT:
    """A service's settings pointed at this run's database, NATS and signing keys."""
    return settings_class(
        database_url=database_url,
        nats_url=stack.nats_url,
        environment="test",
        home=stack.root,
        jwks_file=stack.root / "keys" / "jwks.json",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        **overrides,
    )


@pytest.fixture(scope="session")
def token(dev_keys: DevKeys) -> TokenFactory:
    """``token(roles=["unit"], org=..., jurisdiction="jincheng")`` → a signed JWT."""

    def make(
        *,
        roles: list[str],
        org: str | uuid.UUID = "00000000-0000-0000-0000-000000000000",
        jurisdiction: str = "jincheng",
        sub: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> str:
        return mint_token(
            dev_keys.private_key,
            dev_keys.kid,
            sub=sub or f"user-{uuid.uuid4().hex[:8]}",
            org=str(org),
            jurisdiction=jurisdiction,
            roles=roles,
            issuer=ISSUER,
            audience=AUDIENCE,
            scopes=scopes,
        )

    return make


def auth(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}
