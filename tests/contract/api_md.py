"""API.md, read as data: its operations, the fields each names, its event names.

The public contract is prose (``/work/shared/API.md``); these helpers pull out what
a test can hold the code to:

- every operation written as `` `METHOD /api/v1/...` `` with its query parameters;
- the identifiers the same bullet names in backticks (request and answer fields,
  enum values, ``{a, b: c}`` shapes), which the operation's OpenAPI must know;
- every ``govit.*`` event name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.settings import REPO_ROOT

API_MD = REPO_ROOT.parent / "shared" / "API.md"
PAYLOADS_MD = REPO_ROOT / "docs" / "event-payloads.md"

_OPERATION = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^`?\s]*)(?:\?([^`]*))?`")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
_EVENT = re.compile(r"`(govit\.[a-z_]+\.[a-z_]+\.[a-z_]+)`")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as API.md writes it: /api/v1/systems/{id}

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, normalized(self.path))

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Bullet:
    """One bullet of API.md: the operations it names and the identifiers around them."""

    operations: list[Operation]
    query: dict[Operation, set[str]] = field(default_factory=dict)  # per operation
    names: set[str] = field(default_factory=set)


def normalized(path: str) -> str:
    """``/api/v1/systems/{system_id}`` and ``/api/v1/systems/{id}`` are one path."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def text() -> str:
    return API_MD.read_text(encoding="utf-8")


def bullets() -> list[Bullet]:
    body = text().split("## Registry", 1)[1].split("## Events that other", 1)[0]
    found = []
    for chunk in re.split(r"\n(?=- |## )", body):
        operations = _OPERATION.findall(chunk)
        if not operations:
            continue
        bullet = Bullet([Operation(m, p) for m, p, _ in operations])
        queried = None
        for method, path, query in operations:
            if query:
                queried = Operation(method, path)
                names = {part.split("=")[0] for part in query.split("&") if part}
                bullet.query.setdefault(queried, set()).update(names)
        rest = _OPERATION.sub("", chunk)
        for quoted in re.findall(r"`([^`]+)`", rest):
            if re.fullmatch(r"[a-z_]+=", quoted) and queried:  # `contract_filed_on=`, more
                bullet.query[queried].add(quoted[:-1])  # query of the operation before
            elif re.fullmatch(r"[a-z][a-z0-9_]*", quoted):
                bullet.names.add(quoted)
            elif re.fullmatch(r"[a-z_]+(\|[a-z_]+)+", quoted):  # an enum: a|b|c
                bullet.names |= set(quoted.split("|"))
            elif quoted.startswith(("{", "[{")):  # a shape: {id, status: "draft", ...}
                bullet.names |= set(_IDENT.findall(re.sub(r'"[^"]*"', "", quoted)))
        found.append(bullet)
    return found


def operations() -> list[Operation]:
    seen: dict[tuple[str, str], Operation] = {}
    for bullet in bullets():
        for op in bullet.operations:
            seen.setdefault(op.key, op)
    return list(seen.values())


def event_names() -> set[str]:
    """Every event type API.md or docs/event-payloads.md names.

    event-payloads.md also writes types relative to the last full name
    (`` `govit.approval.project.submitted`, `.approved` ``) and the filings as
    `` `govit.filing.<type>.filed` for each type (`contract`, ...) ``: both count.
    """
    names = set(_EVENT.findall(text()))
    payloads = PAYLOADS_MD.read_text(encoding="utf-8")
    last = None
    for token in re.findall(r"`([^`]+)`", payloads):
        if _EVENT.fullmatch(f"`{token}`"):
            last = token
            names.add(token)
        elif last and re.fullmatch(r"\.[a-z_]+", token):
            names.add(last.rsplit(".", 1)[0] + token)
    listed = re.search(r"`govit\.filing\.<type>\.filed` for each type\s*\(([^)]*)\)", payloads)
    assert listed, "event-payloads.md no longer lists the filing types"
    names |= {f"govit.filing.{t}.filed" for t in re.findall(r"`([a-z_]+)`", listed.group(1))}
    return names


def owner(path: str, prefixes: dict[str, str]) -> str | None:
    """The service API.md's owners table gives ``path`` (longest prefix first)."""
    table = text().split("## Owners", 1)[1].split("\n## ", 1)[0]
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        for prefix in re.findall(r"`([^`]+)`", cells[0]):
            if re.match(re.escape(prefix) + r"(?:[/:]|\Z)", path):
                return cells[1].split()[0]
    return prefixes.get(path)
