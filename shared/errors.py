"""One error family for the whole suite, rendered as RFC 9457 problem+json.

A route never builds an error response by hand: it raises a ``GovitError`` (or lets
pydantic raise a validation error) and the handler installed by ``shared.app``
renders it. Rule refusals carry ``violations`` with the regulation's citation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

PROBLEM_JSON = "application/problem+json"
# What an error echoes of the caller's input is bounded: a 1 MB key name must not
# come back several times over in the answer.
MAX_ECHO_CHARS = 64


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule that refused something: ``rule`` is a citation such as ``jincheng:21``."""

    rule: str
    message_zh: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message_zh": self.message_zh, "message_en": self.message_en}


@dataclass(eq=False)
class GovitError(Exception):
    """An error that is the caller's to fix (4xx) or an upstream's fault (5xx).

    ``code`` is stable: integrators switch on it, so never rename one.
    """

    status: int
    code: str
    detail: str = ""
    violations: list[Violation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.code)

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://govit.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail or self.title,
        }
        if instance:
            body["instance"] = instance
        if self.violations:
            body["violations"] = [v.as_dict() for v in self.violations]
        body.update(self.extra)
        return body


def not_found(what: str, ident: object) -> GovitError:
    return GovitError(404, "not_found", f"{what} {ident} does not exist")


def forbidden(detail: str) -> GovitError:
    return GovitError(403, "forbidden", detail)


def unauthorized(code: str, detail: str) -> GovitError:
    return GovitError(401, code, detail, headers={"WWW-Authenticate": 'Bearer realm="govit"'})


def conflict(code: str, detail: str, violations: list[Violation] | None = None) -> GovitError:
    return GovitError(409, code, detail, violations or [])


def rule_refusal(code: str, detail: str, violations: list[Violation]) -> GovitError:
    """A request well-formed but refused by the regulations: 422 with citations."""
    return GovitError(422, code, detail, violations)
