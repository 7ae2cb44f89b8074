"""What any client walking a project through its life needs, shared by ``make demo`` and
the end-to-end tests: the documents and materials it sends, and which answers mean
"another service's event has not reached this one yet: ask again in a moment"."""

from __future__ import annotations

from typing import get_args

import httpx

from shared.policy import PolicyProfile
from shared.policy.rules import AcceptanceDocument

# Every document an acceptance report may need under any profile (leshan:31's seven).
ACCEPTANCE_DOCUMENTS: tuple[str, ...] = get_args(AcceptanceDocument)

# Codes a service answers while an event it needs is still on its way: 409, or 422 for
# evaluation's ``filing_unknown``, which cannot tell a filing not yet arrived from one
# that never was (its answer carries Retry-After).
LAGGING = {
    "project_unknown",
    "project_not_approved",
    "project_not_known",
    "unit_unknown",
    "filing_unknown",
}


def catching_up(answer: httpx.Response) -> bool:
    """Whether ``answer`` says the service has not caught up yet (worth a retry)."""
    if answer.status_code not in (409, 422):
        return False
    try:
        return answer.json().get("code") in LAGGING
    except ValueError:
        return False


def materials(profile: PolicyProfile) -> tuple[str, ...]:
    """What a self-built project's application carries: the profile's materials, and the
    party group's written consent where the profile requires it (xinzhou-transport:7)."""
    consent = ("party_group_consent",) if profile.party_group_consent else ()
    return profile.materials_for("self_build") + consent
