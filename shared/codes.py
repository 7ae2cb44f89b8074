"""Error codes declared once: the ``Code`` a service's ``errors.py`` declares its own
with, ``described`` for the OpenAPI document, and the texts of the kit's own codes.

A ``code`` is public contract: integrators switch on it, so it is never renamed and
never spelled inline where it is raised. A service declares each of its codes once
(``NOT_FOUND = Code("not_found", 404, "...")``) and raises through it
(``NOT_FOUND.missing("project", id)``, ``CODE.error(detail, violations=...)``);
routes document what they raise with ``described`` (``shared.route_errors``).

The kit's own codes (raised by ``shared.auth``, ``shared.idempotency``,
``shared.pagination`` and the validation handler) are documented by the texts at the
bottom, ``{status: text}``, for ``described(..., also=[...])``.

This module imports no framework: a service's ``domain`` may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import GovitError, Violation


@dataclass(frozen=True)
class Code:
    code: str
    status: int
    meaning: str  # what the OpenAPI document says about it

    def error(
        self,
        detail: str,
        *,
        violations: list[Violation] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> GovitError:
        violations, extra, headers = list(violations or []), dict(extra or {}), dict(headers or {})
        return GovitError(self.status, self.code, detail, violations, extra, headers)

    def missing(self, what: str, ident: object) -> GovitError:
        """The answer for a record that does not exist (or is not the caller's)."""
        return self.error(f"{what} {ident} does not exist")


def codes_in(namespace: Mapping[str, object]) -> tuple[Code, ...]:
    """Every ``Code`` of a module, in declaration order: ``CODES = codes_in(globals())``."""
    return tuple(v for v in list(namespace.values()) if isinstance(v, Code))


def described(*codes: Code, also: Iterable[Mapping[int, str]] = ()) -> dict[int, str]:
    """``{status: description}`` naming each code behind each status, for a route's
    ``problem_responses(*statuses, described=...)``; ``also`` adds the kit's codes."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(code.status, []).append(f"`{code.code}`: {code.meaning}.")
    for texts in also:
        for status, text in texts.items():
            by_status.setdefault(status, []).append(text)
    return {status: " ".join(lines) for status, lines in sorted(by_status.items())}


# --- the kit's codes, as a route documents them ------------------------------------------

# Every route of a service that checks its caller's home (``shared.auth.home``).
TOKEN_JURISDICTION_MISMATCH = {
    403: "`token_jurisdiction_mismatch`: the token's unit lies in another jurisdiction.",
}
# Every route: pydantic's refusal, answered as problem+json (``shared.problems``).
VALIDATION_FAILED = {
    422: "`validation_failed`: the request does not match the schema (`errors`).",
}
# A route behind ``shared.auth.require_roles``.
ROLE_REQUIRED = {
    403: "`role_required`: the token holds none of the roles this needs (`required_roles`).",
}
# A POST behind ``shared.idempotency.idempotent``.
IDEMPOTENCY_KEY = {
    409: "`idempotency_key_in_flight`: the first request with this Idempotency-Key is"
    " still running.",
    422: "`idempotency_key_reused`: this Idempotency-Key came with another body;"
    " `idempotency_key_invalid`: not 1-255 visible ASCII characters.",
}
# A keyset-paginated list (``shared.pagination``).
CURSOR_INVALID = {422: "`cursor_invalid`: the cursor is not one this API issued."}
