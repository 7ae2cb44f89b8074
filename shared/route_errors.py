"""A service's ``_raises``: a route's problem responses, each status naming its codes.

::

    _raises = Raises(TOKEN_JURISDICTION_MISMATCH, VALIDATION_FAILED)   # api.py, once
    @router.post("/things", responses=_raises(errors.NOT_FOUND, also=[ROLE_REQUIRED]))

``every`` are the kit's codes (``shared.codes``) that every route of the service may
answer; ``codes`` the service's own (its ``errors.py``); ``also`` more of the kit's
for this route. The app factory adds 401, 400/413 and 5XX (``shared.openapi``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.codes import Code, described
from shared.openapi import problem_responses


class Raises:
    def __init__(self, *every: Mapping[int, str]) -> None:
        self.every = every

    def __call__(
        self, *codes: Code, also: Sequence[Mapping[int, str]] = ()
    ) -> dict[int | str, dict[str, Any]]:
        text = described(*codes, also=[*self.every, *also])
        return problem_responses(*text, described=text)
