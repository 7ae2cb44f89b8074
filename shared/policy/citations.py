"""Citations: how every rule points back at the regulation that makes it.

A citation is ``<profile>:<article>`` (``jincheng:21``) or, for one numbered item of
an article, ``<profile>:<article>.<item>`` (``leshan:8.3``). Articles are arabic
integers even though the regulations number them in Chinese (第二十一条).
"""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, Field, StringConstraints

CITATION_RE = re.compile(
    r"^(?P<profile>[a-z][a-z-]*):(?P<article>[1-9]\d*)(?:\.(?P<item>[1-9]\d*))?$"
)


class CitationParts(NamedTuple):
    profile: str
    article: int
    item: int | None


def parse_citation(citation: str) -> CitationParts:
    """Split ``leshan:8.3`` into ``("leshan", 8, 3)``; ValueError when malformed."""
    match = CITATION_RE.fullmatch(citation)
    if match is None:
        raise ValueError(f"malformed citation {citation!r}; expected <profile>:<article>[.<item>]")
    item = match["item"]
    return CitationParts(match["profile"], int(match["article"]), int(item) if item else None)


def _one_or_many(value: object) -> object:
    # The data files may write a single citation as a bare string.
    return (value,) if isinstance(value, str) else value


Citation = Annotated[str, StringConstraints(pattern=CITATION_RE.pattern)]

# Every rule carries at least one citation: a rule nobody can trace is not a rule.
Citations = Annotated[tuple[Citation, ...], BeforeValidator(_one_or_many), Field(min_length=1)]
