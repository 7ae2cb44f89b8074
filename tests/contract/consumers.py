"""What each consumer reads of each event it takes, and the producers' required
fields those reads were last checked against.

``READS`` follows docs/event-payloads.md ("Who consumes what"): for a consumer
service and an event pattern (NATS wildcards), the ``data`` fields its handlers use.
Every one must stay required in the producer's schema (a producer that drops one
breaks the consumer). ``REVIEWED`` holds each producer schema's ``required`` as the
consumers were checked against it: a producer that adds or drops a required field
fails ``test_consumer_contracts`` until someone has looked at every consumer of
that type and updated both tables.

A projection reads the columns of its table (``shared.events.projection``); the
consumer test checks those too, from the running app, without this table.
"""

from __future__ import annotations

# consumer service -> event pattern -> fields read
READS: dict[str, dict[str, frozenset[str]]] = {
    "approval": {
        "govit.registry.unit.*": frozenset({"id", "name", "jurisdiction", "parent"}),
        "govit.registry.system.*": frozenset(
            {
                "id",
                "org",
                "jurisdiction",
                "status",
                "cloud",
                "sharing_connected",
                "facts",
                "asset_registered",
                "version",
            }
        ),
        "govit.filing.contract.filed": frozenset({"id", "project_id", "version"}),
        "govit.filing.acceptance.recorded": frozenset({"id", "project_id", "org", "passed"}),
        "govit.filing.acceptance.filed": frozenset({"id", "project_id", "passed"}),
        "govit.evaluation.rectification.*": frozenset(
            {"id", "project_id", "org", "reason", "status", "rule", "version"}
        ),
        "govit.evaluation.assessment.published": frozenset(
            {"id", "org", "year", "score", "grade", "comment", "version"}
        ),
    },
    "filing": {
        "govit.approval.project.*": frozenset(
            {
                "id",
                "org",
                "jurisdiction",
                "profile",
                "profile_version",
                "status",
                "delivery",
                "planned_completion_on",
                "approved_annual_budgets",
                "version",
            }
        ),
    },
    "funding": {
        "govit.registry.system.*": frozenset({"id", "org", "facts", "version"}),
        "govit.approval.project.*": frozenset(
            {
                "id",
                "org",
                "jurisdiction",
                "profile",
                "profile_version",
                "status",
                "approved_total",
                "approved_annual_budgets",
                "system_ids",
                "version",
            }
        ),
        "govit.filing.*.filed": frozenset(
            {
                "id",
                "project_id",
                "type",
                "event_date",
                "filed_on",
                "passed",
                "catalogue_joined",
                "secure_controllable",
                "version",
            }
        ),
        "govit.filing.acceptance.recorded": frozenset(
            {"id", "project_id", "accepted_on", "passed", "version"}
        ),
        "govit.filing.calendar.loaded": frozenset({"year", "holidays", "workdays", "version"}),
        "govit.evaluation.rectification.*": frozenset(
            {"id", "project_id", "status", "rule", "version"}
        ),
        "govit.evaluation.evaluation.completed": frozenset(
            {"id", "project_id", "kind", "failing", "version"}
        ),
    },
    "evaluation": {
        "govit.registry.unit.*": frozenset({"id", "name", "jurisdiction"}),
        "govit.approval.project.*": frozenset(
            {"id", "org", "jurisdiction", "profile", "profile_version", "status", "version"}
        ),
        "govit.filing.deadline.missed": frozenset(
            {"id", "project_id", "org", "jurisdiction", "type", "rule", "due_on", "version"}
        ),
        "govit.filing.self_evaluation.filed": frozenset(
            {"id", "project_id", "obligation_id", "version"}
        ),
        "govit.filing.calendar.loaded": frozenset({"year", "holidays", "workdays", "version"}),
    },
}

_FILING = frozenset(
    {
        "id",
        "project_id",
        "org",
        "jurisdiction",
        "type",
        "event_date",
        "filed_on",
        "due_on",
        "on_time",
        "obligation_id",
        "passed",
        "trial_run_started_on",
        "catalogue_joined",
        "secure_controllable",
        "version",
    }
)
_FILING_TYPES = (
    "contract",
    "supervisor",
    "acceptance",
    "self_evaluation",
    "performance_monitoring",
    "progress",
    "acceptance_delay",
    "handover",
)
_OBLIGATION = frozenset(
    {
        "id",
        "project_id",
        "org",
        "jurisdiction",
        "type",
        "rule",
        "due_on",
        "status",
        "met_by",
        "version",
    }
)

_PROJECT = frozenset(
    {
        "id",
        "org",
        "co_orgs",
        "jurisdiction",
        "profile",
        "profile_version",
        "name",
        "number",
        "status",
        "delivery",
        "kind",
        "total_investment",
        "annual_budgets",
        "approved_total",
        "approved_annual_budgets",
        "system_ids",
        "planned_completion_on",
        "approved_on",
        "version",
    }
)
_ORDER = frozenset(
    {
        "id",
        "project_id",
        "org",
        "jurisdiction",
        "reason",
        "status",
        "due_on",
        "ordered_on",
        "rule",
        "version",
    }
)

# event type -> its schema's ``required`` when the consumers above were last checked
REVIEWED: dict[str, frozenset[str]] = {
    "govit.approval.project.submitted": _PROJECT,
    "govit.approval.project.approved": _PROJECT,
    "govit.approval.project.rejected": _PROJECT | {"reasons"},
    "govit.approval.project.changed": _PROJECT | {"change"},
    "govit.approval.project.terminated": _PROJECT | {"reason", "rule"},
    "govit.approval.project.status_changed": _PROJECT | {"from", "to", "rule", "cause"},
    **{
        f"govit.evaluation.rectification.{verb}": _ORDER
        for verb in ("ordered", "resolved", "escalated", "termination_requested")
    },
    "govit.evaluation.evaluation.completed": frozenset(
        {
            "id",
            "project_id",
            "org",
            "jurisdiction",
            "kind",
            "method",
            "scores",
            "total_score",
            "grade",
            "failing",
            "obligation_id",
            "completed_on",
            "year",
            "version",
        }
    ),
    "govit.evaluation.assessment.published": frozenset(
        {"id", "org", "jurisdiction", "year", "score", "grade", "comment", "version"}
    ),
    **{f"govit.filing.{t}.filed": _FILING for t in _FILING_TYPES},
    "govit.filing.acceptance.recorded": frozenset(
        {"id", "project_id", "org", "jurisdiction", "accepted_on", "passed", "opinion", "version"}
    ),
    "govit.filing.calendar.loaded": frozenset(
        {"id", "year", "holidays", "workdays", "source", "version"}
    ),
    "govit.filing.deadline.missed": _OBLIGATION,
    "govit.filing.obligation.recomputed": _OBLIGATION | {"before", "after"},
    "govit.registry.unit.registered": frozenset({"id", "name", "jurisdiction", "parent"}),
    "govit.registry.system.registered": frozenset(
        {
            "id",
            "org",
            "jurisdiction",
            "name",
            "status",
            "network",
            "cloud",
            "cloud_exempt_reason",
            "private_network_approval",
            "sharing_connected",
            "mlps_level",
            "crypto_assessed",
            "asset_registered",
            "resource_count",
            "facts",
            "version",
        }
    ),
    "govit.registry.system.updated": frozenset(
        {
            "id",
            "org",
            "jurisdiction",
            "name",
            "status",
            "network",
            "cloud",
            "cloud_exempt_reason",
            "private_network_approval",
            "sharing_connected",
            "mlps_level",
            "crypto_assessed",
            "asset_registered",
            "resource_count",
            "facts",
            "version",
            "changed",
        }
    ),
}


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)
