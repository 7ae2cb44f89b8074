"""Settings every process reads from the environment (prefix ``GOVIT_``).

``DATABASE_URL`` and ``NATS_URL`` are honoured without the prefix too, so pointing
the suite at external servers (as Kubernetes does) takes the usual variable names.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".govit"

Environment = Literal["development", "test", "production"]


class GovitSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GOVIT_", extra="ignore", frozen=True, populate_by_name=True
    )

    service_name: str = "govit"
    environment: Environment = "development"
    log_level: str = "INFO"
    home: Path = Field(default=DEFAULT_HOME, description="Local state: dev keys, data.")

    database_url: str = Field(
        default="postgresql+asyncpg://govit@127.0.0.1:5432/govit",
        validation_alias=AliasChoices("GOVIT_DATABASE_URL", "DATABASE_URL"),
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=AliasChoices("GOVIT_NATS_URL", "NATS_URL"),
    )

    # JWT: asymmetric keys only, published as a JWKS document (file or URL).
    jwt_issuer: str = "https://id.govit.local"
    jwt_audience: str = "govit"
    jwt_algorithms: tuple[str, ...] = ("ES256", "RS256")
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jwt_leeway_seconds: int = 30
    # A verified token is remembered this long (never past its exp); 0 turns it off.
    token_cache_seconds: float = Field(default=30.0, ge=0)
    token_cache_size: int = Field(default=10_000, ge=0)

    # Shifts "today" in development so a demo can walk past a deadline.
    clock_offset_days: int = 0

    # Start-up waits for the database and NATS (a Procfile has no start order).
    startup_wait_seconds: float = 60

    # Outbox relay and consumers.
    outbox_relay_enabled: bool = True
    outbox_poll_seconds: float = 1.0
    consumer_max_deliveries: int = 5
    # How often expired Idempotency-Key answers are deleted (shared.idempotency).
    idempotency_purge_seconds: float = Field(default=3600.0, gt=0)

    @cached_property
    def dev_keys_dir(self) -> Path:
        return self.home / "keys"

    @cached_property
    def effective_jwks_file(self) -> Path | None:
        if self.jwks_url:
            return None
        return self.jwks_file or self.dev_keys_dir / "jwks.json"

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> GovitSettings:
        if self.environment != "production":
            return self
        problems = []
        if self.clock_offset_days:
            problems.append("GOVIT_CLOCK_OFFSET_DAYS must be 0 in production")
        if not (self.jwks_url or self.jwks_file):
            problems.append("production needs GOVIT_JWKS_URL or GOVIT_JWKS_FILE")
        elif self.jwks_file and self.dev_keys_dir in self.jwks_file.resolve().parents:
            problems.append("the development signing key must not be used in production")
        if any(alg.startswith("HS") for alg in self.jwt_algorithms):
            problems.append("HMAC algorithms are not allowed")
        if problems:
            raise ValueError("; ".join(problems))
        return self
