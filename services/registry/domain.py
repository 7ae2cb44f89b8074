"""The registry's rules, pure: no I/O, no framework, dates and profiles passed in.

A refusal is a list of ``Violation``s, each citing the owning unit's regulation
(``linfen-water:11``); the caller decides the HTTP status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from services.registry import errors
from shared.auth.access import Level, Ownership, allows
from shared.auth.principal import Principal, Role
from shared.auth.scopes import REGISTRY_CLOUD_WRITE
from shared.errors import Violation
from shared.policy import PolicyProfile

Status = Literal["planned", "building", "operating", "retired"]
Network = Literal["extranet", "intranet", "internet", "private"]
Cloud = Literal["on_cloud", "migrating", "not_migrated", "exempt"]
ShareType = Literal["unconditional", "conditional", "none"]
OpenType = Literal["open", "conditional", "none"]

LIFECYCLE: tuple[Status, ...] = ("planned", "building", "operating", "retired")
# What the government cloud platform may report (API.md: role platform changes cloud only).
PLATFORM_FIELDS = frozenset({"cloud"})
# Access follows the suite's rule (shared.auth.access): a system is its unit's; the
# unit directory is read by every role of its jurisdiction and written by its admins.
SYSTEMS = Ownership(org="org_id")
UNITS = Ownership(org=None, directory=True)
# A background import is read by its unit (the token's ``org`` that sent it) and by
# its jurisdiction's admin: the write level of the same rule, no oversight role.
IMPORTS = Ownership(org="org")
# The fields a system's catalogue entry is made of, in export column order.
SYSTEM_FIELDS = (
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
)


@dataclass(frozen=True)
class Facts:
    """What other services decide on (funding gates, approval pre-screen)."""

    catalogued: bool
    data_shared: bool
    on_cloud: bool
    secure: bool


# --- access -----------------------------------------------------------------------


# The suite's rule decides who reads and writes a system (``allows(..., SYSTEMS)``);
# the registry adds one extra: the government cloud platform reports ``cloud``.


def may_change(principal: Principal, system: Any, fields: Iterable[str]) -> bool:
    """Its unit (or its jurisdiction's admin) changes a system; the cloud platform its
    ``cloud``."""
    return allows(principal, system, SYSTEMS, Level.WRITE) or platform_may_change(
        principal, system.jurisdiction, fields
    )


def platform_may_change(principal: Principal, jurisdiction: str, fields: Iterable[str]) -> bool:
    """The government cloud platform reports migration state in its own jurisdiction,
    nothing else. Both platforms hold role ``platform``; only the government cloud's
    token carries the scope ``registry:cloud:write`` (docs/gateway.md)."""
    return (
        principal.has_role(Role.PLATFORM)
        and principal.has_scope(REGISTRY_CLOUD_WRITE)
        and principal.jurisdiction == jurisdiction
        and set(fields) <= PLATFORM_FIELDS
    )


def change_refusal(principal: Principal, fields: Iterable[str]) -> tuple[str, str, dict[str, Any]]:
    """Why ``may_change`` said no to a caller who may read the system:
    ``(code, message, extra)`` for a 403 (an access refusal: no regulation to cite)."""
    if not principal.has_role(Role.PLATFORM):
        return errors.FORBIDDEN.code, "only the owning unit may change its catalogue entry", {}
    others = sorted(set(fields) - PLATFORM_FIELDS)
    if others:
        return (
            errors.FIELD_NOT_PERMITTED.code,
            "the government cloud platform may change only `cloud`",
            {"fields": others},
        )
    return (
        errors.SCOPE_REQUIRED.code,
        f"reporting cloud migration state needs the scope {REGISTRY_CLOUD_WRITE!r}, "
        "which the identity platform issues to the government cloud platform only",
        {"required_scope": REGISTRY_CLOUD_WRITE},
    )


# --- lifecycle ----------------------------------------------------------------------


# No article of the five regulations governs a system's lifecycle: these two are the
# registry's own rules, cited ``registry:...`` (not ``<profile>:<article>``) so that
# nobody mistakes them for a regulation. Why they hold: the catalogue is the history
# projects were approved and funded against, and every change is a revision.
LIFECYCLE_FORWARD = "registry:lifecycle-forward"
RETIRED_FINAL = "registry:retired-final"


def transition_allowed(current: Status, new: Status) -> bool:
    """Forward only (a step may be skipped); ``retired`` is final."""
    return LIFECYCLE.index(new) >= LIFECYCLE.index(current) and current != "retired"


def lifecycle_violation(current: Status, new: Status) -> Violation | None:
    """Why a change to a system in ``current`` status (to ``new``) is refused, if it is.
    Only asked about changes that change something (or that add to the system)."""
    if current == "retired":
        return Violation(
            RETIRED_FINAL,
            "系统已退役，作为历史记录保留，不再变更（登记平台规则，非规章条款）",
            "a retired system is kept as history, unchanged",
        )
    if not transition_allowed(current, new):
        return Violation(
            LIFECYCLE_FORWARD,
            f"系统状态只能向前变更（规划 → 建设 → 运行 → 退役），不能从 {current} 改为 {new}"
            "（登记平台规则，非规章条款）",
            "status moves forward only (planned → building → operating → retired); "
            f"{current} → {new} is not allowed",
        )
    return None


# --- rules on a catalogue entry ----------------------------------------------------------


def entry_violations(entry: Mapping[str, Any], profile: PolicyProfile) -> list[Violation]:
    """Refusals at write time: what must never be stored, under the unit's profile."""
    return [violation for _, violation in entry_problems(entry, profile)]


def entry_problems(entry: Mapping[str, Any], profile: PolicyProfile) -> list[tuple[str, Violation]]:
    """Each write-time refusal with the field to fix (an import reports it as the column)."""
    rules = profile.registry
    found: list[tuple[str, Violation]] = []
    private = rules.private_network
    if (
        entry["network"] == "private"
        and private
        and not _filled(entry.get("private_network_approval"))
    ):
        # Where no one may consent (leshan:8.2) the reference records the exception
        # that let the network exist; compliance() still reports it.
        found.append(("private_network_approval", private.violation()))
    cloud = rules.government_cloud
    if entry["cloud"] == "exempt" and cloud:
        if not cloud.exempt_allowed:
            found.append(("cloud", cloud.violation()))
        elif not _filled(entry.get("cloud_exempt_reason")):
            reason_missing = Violation(
                cloud.rule,
                "不迁移上政务云的系统须说明理由（cloud_exempt_reason）",
                "A system exempt from the government cloud must state why (cloud_exempt_reason).",
            )
            found.append(("cloud_exempt_reason", reason_missing))
    return found


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def facts(entry: Mapping[str, Any]) -> Facts:
    """``entry`` carries ``shared_resource_count``: resources whose share_type is not none."""
    return Facts(
        catalogued=entry["status"] != "retired",
        data_shared=bool(entry["sharing_connected"]) and entry["shared_resource_count"] > 0,
        on_cloud=entry["cloud"] == "on_cloud"
        or (entry["cloud"] == "exempt" and _filled(entry.get("cloud_exempt_reason"))),
        secure=entry.get("mlps_level") is not None and bool(entry["crypto_assessed"]),
    )


def compliance(entry: Mapping[str, Any], profile: PolicyProfile) -> list[Violation]:
    """What keeps the system from counting as catalogued, shared, on cloud and secure."""
    rules = profile.registry
    found = entry_violations(entry, profile)
    if entry["status"] == "retired" and rules.catalogue_first:
        found.append(
            Violation(
                rules.catalogue_first.rule,
                "系统已退役，不能作为在用系统列入项目",
                "The system is retired and no longer counts as a catalogued system in use.",
            )
        )
    private = rules.private_network
    if entry["network"] == "private" and private and private.consent_by_zh is None:
        found.append(private.violation())  # catalogued as it is, never compliant
    if profile.resource_catalogue_required and not entry["resource_count"]:
        found.append(profile.resource_catalogue_required.violation())
    if rules.data_sharing and not facts(entry).data_shared:
        found.append(rules.data_sharing.violation())
    if rules.government_cloud and entry["cloud"] in ("migrating", "not_migrated"):
        found.append(rules.government_cloud.violation())
    if rules.mlps and entry.get("mlps_level") is None:
        found.append(rules.mlps.violation())
    if rules.crypto_assessment and not entry["crypto_assessed"]:
        found.append(rules.crypto_assessment.violation())
    if rules.asset_registration and not entry["asset_registered"]:
        found.append(rules.asset_registration.violation())
    return found


# --- history ------------------------------------------------------------------------


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {before, after}}`` for each field that differs (each set one on creation)."""
    before = before or {}
    return {
        field: {"before": before.get(field), "after": value}
        for field, value in after.items()
        if before.get(field) != value
    }
