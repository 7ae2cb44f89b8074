"""Verified tokens remembered in each service, and the ``scope`` claim (who of one role
may do what): the memory's rules, the claim's shape, and the development CLI."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from shared.auth import (
    DevKeys,
    JwksKeySource,
    Principal,
    Role,
    TokenMemory,
    TokenVerifier,
    cli,
    ensure_dev_keys,
    mint_token,
)
from shared.auth.scopes import REGISTRY_CLOUD_WRITE
from shared.errors import GovitError
from shared.settings import GovitSettings

ISS = "https://id.test"
AUD = "govit"
NOW = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSource(JwksKeySource):
    """The JWKS file, counting how often a key is asked for (once per real verification)."""

    def __init__(self, path: Path) -> None:
        super().__init__(JwksKeySource.from_file(path)._loader, min_refresh_interval=0)
        self.lookups = 0

    async def get_key(self, kid: str | None) -> Any:
        self.lookups += 1
        return await super().get_key(kid)


@pytest.fixture
def keys(tmp_path: Path) -> DevKeys:
    return ensure_dev_keys(tmp_path / "keys")


def remembering(
    keys: DevKeys, clock: Clock, seconds: float = 30, size: int = 100, leeway: float = 30
) -> tuple[TokenVerifier, CountingSource]:
    source = CountingSource(keys.jwks_file)
    memory = TokenMemory(seconds, size, clock=clock)
    return TokenVerifier(source, ISS, AUD, ["ES256"], leeway=leeway, memory=memory), source


def token(keys: DevKeys, *, exp_in: float = 600, now: float = NOW, **claims: Any) -> str:
    return mint_token(
        keys.private_key,
        keys.kid,
        sub=claims.pop("sub", "u-1"),
        org="unit-1",
        jurisdiction="jincheng",
        roles=["unit"],
        issuer=ISS,
        audience=AUD,
        ttl_seconds=int(exp_in),
        now=now,
        **claims,
    )


@pytest.fixture(autouse=True)
def frozen_jwt_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """PyJWT reads ``datetime.now`` for ``exp``: the tests move one clock for it and the memory."""
    clock = Clock()

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Any:
            return datetime.datetime.fromtimestamp(clock(), tz=tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", FrozenDatetime)
    return clock


# --- the memory ------------------------------------------------------------------------


async def test_a_remembered_token_is_not_verified_again(
    keys: DevKeys, frozen_jwt_clock: Clock
) -> None:
    verifier, source = remembering(keys, frozen_jwt_clock)
    jwt_ = token(keys)
    first = await verifier.verify(jwt_)
    frozen_jwt_clock.now += 29.9
    assert await verifier.verify(jwt_) is first
    assert source.lookups == 1
    frozen_jwt_clock.now += 0.1  # the memory's 30 s are over: verified afresh
    assert await verifier.verify(jwt_) == first
    assert source.lookups == 2


async def test_a_remembered_token_still_expires_at_its_exp(
    keys: DevKeys, frozen_jwt_clock: Clock
) -> None:
    # No leeway here, so the refusal at ``exp`` is the verifier's own.
    verifier, source = remembering(keys, frozen_jwt_clock, seconds=300, leeway=0)
    jwt_ = token(keys, exp_in=10)
    await verifier.verify(jwt_)
    frozen_jwt_clock.now += 9
    await verifier.verify(jwt_)
    assert source.lookups == 1
    frozen_jwt_clock.now += 1  # exp reached, though the memory would keep it 300 s
    with pytest.raises(GovitError) as caught:
        await verifier.verify(jwt_)
    assert (caught.value.status, caught.value.code) == (401, "token_expired")


async def test_a_token_valid_only_by_the_leeway_is_verified_each_time(
    keys: DevKeys, frozen_jwt_clock: Clock
) -> None:
    verifier, source = remembering(keys, frozen_jwt_clock)
    jwt_ = token(keys, exp_in=10, now=NOW - 20)  # expired 10 s ago, within the 30 s leeway
    await verifier.verify(jwt_)
    await verifier.verify(jwt_)
    assert source.lookups == 2
    assert len(verifier.memory or ()) == 0


async def test_a_refused_token_is_never_remembered(keys: DevKeys, frozen_jwt_clock: Clock) -> None:
    verifier, source = remembering(keys, frozen_jwt_clock)
    good = token(keys)
    head, payload, signature = good.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    for _ in range(3):
        with pytest.raises(GovitError) as caught:
            await verifier.verify(forged)
        assert caught.value.code == "token_signature_invalid"
    assert source.lookups == 3, "each attempt verified again"
    assert len(verifier.memory or ()) == 0
    # The same claims, correctly signed, are another token string: not a hit either.
    await verifier.verify(good)
    assert source.lookups == 4


async def test_the_memory_holds_at_most_its_bound_oldest_forgotten_first(
    keys: DevKeys, frozen_jwt_clock: Clock
) -> None:
    verifier, source = remembering(keys, frozen_jwt_clock, size=3)
    tokens = [token(keys, sub=f"u-{i}") for i in range(5)]
    for jwt_ in tokens:
        await verifier.verify(jwt_)
    assert len(verifier.memory or ()) == 3
    lookups = source.lookups
    for jwt_ in tokens[2:]:  # the three newest are remembered
        await verifier.verify(jwt_)
    assert source.lookups == lookups
    await verifier.verify(tokens[0])  # the oldest was forgotten
    assert source.lookups == lookups + 1
    assert len(verifier.memory or ()) == 3


@pytest.mark.parametrize(("seconds", "size"), [(0, 100), (30, 0)])
async def test_zero_turns_the_memory_off(
    keys: DevKeys, frozen_jwt_clock: Clock, seconds: float, size: int
) -> None:
    verifier, source = remembering(keys, frozen_jwt_clock, seconds=seconds, size=size)
    assert verifier.memory is None
    jwt_ = token(keys)
    await verifier.verify(jwt_)
    await verifier.verify(jwt_)
    assert source.lookups == 2


def test_services_remember_tokens_by_default_and_settings_tune_it(tmp_path: Path) -> None:
    default = TokenVerifier.from_settings(GovitSettings(home=tmp_path))
    assert default.memory is not None
    assert (default.memory.seconds, default.memory.max_entries) == (30, 10_000)
    off = TokenVerifier.from_settings(GovitSettings(home=tmp_path, token_cache_seconds=0))
    assert off.memory is None


# --- the scope claim -------------------------------------------------------------------


async def test_the_scope_claim_becomes_the_principals_scopes(
    keys: DevKeys, frozen_jwt_clock: Clock
) -> None:
    verifier, _ = remembering(keys, frozen_jwt_clock)
    with_scope = token(keys, scopes=[REGISTRY_CLOUD_WRITE, "projects:read"])
    principal = await verifier.verify(with_scope)
    assert principal.scopes == {REGISTRY_CLOUD_WRITE, "projects:read"}
    assert principal.has_scope(REGISTRY_CLOUD_WRITE)
    assert (await verifier.verify(token(keys))).scopes == frozenset()


@pytest.mark.parametrize(
    "scope", [["registry:cloud:write"], 42, "", " registry:cloud:write", "a  b", 'a"b', "x" * 3000]
)
async def test_a_scope_claim_of_the_wrong_shape_is_refused(
    keys: DevKeys, frozen_jwt_clock: Clock, scope: Any
) -> None:
    verifier, _ = remembering(keys, frozen_jwt_clock)
    with pytest.raises(GovitError) as caught:
        await verifier.verify(token(keys, extra={"scope": scope}))
    assert (caught.value.status, caught.value.code) == (401, "token_claims_invalid")


# --- make token ------------------------------------------------------------------------


def cli_token(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
) -> dict[str, Any]:
    monkeypatch.setenv("GOVIT_HOME", str(tmp_path))
    base = ["token", "--role", "platform", "--org", "unit-9", "--jurisdiction", "jincheng"]
    assert cli.main([*base, *argv]) == 0
    claims: dict[str, Any] = jwt.decode(
        capsys.readouterr().out.strip(), options={"verify_signature": False}
    )
    return claims


def test_make_token_gives_the_government_cloud_its_scope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = cli_token(tmp_path, monkeypatch, capsys, "--sub", "platform:gov-cloud")
    assert claims["scope"] == REGISTRY_CLOUD_WRITE
    other = cli_token(tmp_path, monkeypatch, capsys, "--sub", "platform:online-services")
    assert "scope" not in other
    assert other["roles"] == ["platform"]


def test_make_token_takes_scopes_when_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = cli_token(tmp_path, monkeypatch, capsys, "--scope", "b:read a:write,c:x")
    assert claims["scope"] == "a:write b:read c:x"
    none = cli_token(tmp_path, monkeypatch, capsys, "--sub", "platform:gov-cloud", "--scope", "")
    assert "scope" not in none, "an explicit empty --scope overrides the client's default"


def test_an_admins_first_token_needs_no_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOVIT_HOME", str(tmp_path))
    assert cli.main(["token", "--role", "admin", "--jurisdiction", "jincheng"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["org"] == "00000000-0000-0000-0000-000000000000"


def test_a_principal_built_by_hand_has_no_scopes() -> None:
    principal = Principal("s", "o", "j", frozenset({Role.PLATFORM}))
    assert principal.scopes == frozenset() and not principal.has_scope(REGISTRY_CLOUD_WRITE)


def test_the_wall_clock_is_the_default(keys: DevKeys) -> None:
    memory = TokenMemory(30)
    principal = Principal("s", "o", "j", frozenset({Role.UNIT}))
    memory.remember("t", principal, exp=time.time() + 60)
    assert memory.get("t") is principal
    memory.remember("old", principal, exp=time.time() - 1)
    assert memory.get("old") is None
