"""The registry's pure rules (``services/registry/domain.py``): no database, no HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from services.registry import domain
from shared.auth import Level, Principal, allows
from shared.auth.scopes import REGISTRY_CLOUD_WRITE
from shared.policy import PolicyProfile, load_profile

ORG = "01a20000-0000-7000-8000-00000000000a"
OTHER_ORG = "01a20000-0000-7000-8000-00000000000b"
PROFILES = ["linfen-water", "xiangfen", "xinzhou-transport", "leshan", "jincheng"]


def who(
    *roles: str, org: str = ORG, jurisdiction: str = "linfen-water", scopes: tuple[str, ...] = ()
) -> Principal:
    return Principal(
        sub="tester",
        org=org,
        jurisdiction=jurisdiction,
        roles=frozenset(roles),
        scopes=frozenset(scopes),
    )


def can_read(principal: Principal, org: str, jurisdiction: str) -> bool:
    return allows(principal, {"org_id": org, "jurisdiction": jurisdiction}, domain.SYSTEMS)


def can_write(principal: Principal, org: str, jurisdiction: str = "linfen-water") -> bool:
    record = {"org_id": org, "jurisdiction": jurisdiction}
    return allows(principal, record, domain.SYSTEMS, Level.WRITE)


def entry(**overrides: Any) -> dict[str, Any]:
    """A catalogue entry that breaks no rule of any profile."""
    values: dict[str, Any] = {
        "name": "水资源监测预警系统",
        "status": "operating",
        "network": "extranet",
        "cloud": "on_cloud",
        "cloud_exempt_reason": None,
        "private_network_approval": None,
        "sharing_connected": True,
        "mlps_level": 3,
        "crypto_assessed": True,
        "asset_registered": True,
        "resource_count": 1,
        "shared_resource_count": 1,
    }
    values.update(overrides)
    return values


def cited(violations: list[Any]) -> list[str]:
    return [v.rule for v in violations]


# --- access -------------------------------------------------------------------------------


def test_a_unit_reads_its_own_systems_only() -> None:
    assert can_read(who("unit"), ORG, "linfen-water")
    assert not can_read(who("unit"), OTHER_ORG, "linfen-water")


def test_a_unit_token_of_another_jurisdiction_reads_nothing() -> None:
    assert not can_read(who("unit", jurisdiction="jincheng"), ORG, "linfen-water")


@pytest.mark.parametrize("role", ["authority", "finance", "reviewer", "auditor", "platform"])
def test_oversight_reads_every_unit_of_its_own_jurisdiction_only(role: str) -> None:
    assert can_read(who(role), OTHER_ORG, "linfen-water")
    assert not can_read(who(role), OTHER_ORG, "jincheng")


def test_an_admin_reads_and_writes_its_own_jurisdiction_only() -> None:
    """Admins are scoped to their token's jurisdiction (docs/access.md)."""
    assert can_read(who("admin"), OTHER_ORG, "linfen-water")
    assert not can_read(who("admin", jurisdiction="leshan"), OTHER_ORG, "jincheng")
    assert not can_write(who("admin", jurisdiction="leshan"), OTHER_ORG, "jincheng")


@pytest.mark.parametrize("role", ["authority", "finance", "reviewer", "auditor", "platform"])
def test_only_the_owning_unit_and_an_admin_write(role: str) -> None:
    assert can_write(who("unit"), ORG)
    assert not can_write(who("unit"), OTHER_ORG)
    assert can_write(who("admin"), OTHER_ORG)
    assert not can_write(who(role), ORG), "an oversight role never writes, own org or not"


def test_the_cloud_platform_changes_cloud_only_in_its_jurisdiction() -> None:
    platform = who("platform", scopes=(REGISTRY_CLOUD_WRITE,))
    assert domain.platform_may_change(platform, "linfen-water", ["cloud"])
    assert domain.platform_may_change(platform, "linfen-water", [])
    assert not domain.platform_may_change(platform, "linfen-water", ["cloud", "name"])
    assert not domain.platform_may_change(platform, "linfen-water", ["cloud_exempt_reason"])
    assert not domain.platform_may_change(platform, "jincheng", ["cloud"])
    assert not domain.platform_may_change(who("authority"), "linfen-water", ["cloud"])
    scoped_authority = who("authority", scopes=(REGISTRY_CLOUD_WRITE,))
    assert not domain.platform_may_change(scoped_authority, "linfen-water", ["cloud"])


def test_the_other_platform_changes_nothing() -> None:
    """Both platforms hold role platform; only the government cloud has the scope."""
    online_services = who("platform", scopes=("projects:read",))
    assert not domain.platform_may_change(online_services, "linfen-water", ["cloud"])
    code, _, extra = domain.change_refusal(online_services, ["cloud"])
    assert (code, extra) == ("scope_required", {"required_scope": REGISTRY_CLOUD_WRITE})
    code, _, extra = domain.change_refusal(online_services, ["cloud", "name"])
    assert (code, extra) == ("field_not_permitted", {"fields": ["name"]})


# --- lifecycle ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("planned", "planned"),
        ("planned", "building"),
        ("planned", "operating"),
        ("planned", "retired"),
        ("building", "operating"),
        ("operating", "retired"),
    ],
)
def test_the_lifecycle_moves_forward_and_may_skip_steps(current: str, new: str) -> None:
    assert domain.transition_allowed(current, new)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "new"),
    [
        ("building", "planned"),
        ("operating", "building"),
        ("operating", "planned"),
        ("retired", "operating"),
        ("retired", "planned"),
        ("retired", "retired"),
    ],
)
def test_the_lifecycle_never_moves_back_and_retirement_is_final(current: str, new: str) -> None:
    assert not domain.transition_allowed(current, new)  # type: ignore[arg-type]


# --- write-time refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", PROFILES)
def test_a_plain_entry_breaks_no_profile(profile_id: str) -> None:
    assert domain.entry_problems(entry(), load_profile(profile_id)) == []


@pytest.mark.parametrize(
    ("profile_id", "rule"),
    [
        ("linfen-water", "linfen-water:11"),
        ("xiangfen", "xiangfen:11"),
        ("xinzhou-transport", "xinzhou-transport:10"),
    ],
)
def test_a_private_network_needs_the_named_authoritys_consent(profile_id: str, rule: str) -> None:
    profile = load_profile(profile_id)
    problems = domain.entry_problems(entry(network="private"), profile)
    assert [(field, v.rule) for field, v in problems] == [("private_network_approval", rule)]
    blank = entry(network="private", private_network_approval="   ")
    assert cited(domain.entry_violations(blank, profile)) == [rule], "blank is no consent"
    consented = entry(network="private", private_network_approval="临水信函〔2023〕5号")
    assert domain.entry_violations(consented, profile) == []


def test_leshan_catalogues_a_private_network_with_a_reference_but_never_counts_it_compliant() -> (
    None
):
    profile = load_profile("leshan")
    assert profile.registry.private_network is not None
    assert profile.registry.private_network.consent_by_zh is None
    bare = domain.entry_problems(entry(network="private"), profile)
    assert [(field, v.rule) for field, v in bare] == [("private_network_approval", "leshan:8.2")]
    referenced = entry(network="private", private_network_approval="乐数经〔2023〕1号")
    assert domain.entry_problems(referenced, profile) == []
    assert "leshan:8.2" in cited(domain.compliance(referenced, profile))


def test_jincheng_has_no_private_network_rule() -> None:
    assert domain.entry_violations(entry(network="private"), load_profile("jincheng")) == []


@pytest.mark.parametrize(
    ("profile_id", "rule"),
    [
        ("linfen-water", "linfen-water:29"),
        ("xiangfen", "xiangfen:35"),
        ("xinzhou-transport", "xinzhou-transport:28"),
        ("leshan", "leshan:8.3"),
        ("jincheng", "jincheng:27"),
    ],
)
def test_a_cloud_exemption_needs_a_reason(profile_id: str, rule: str) -> None:
    profile = load_profile(profile_id)
    for reason in (None, "", "  "):
        problems = domain.entry_problems(entry(cloud="exempt", cloud_exempt_reason=reason), profile)
        assert [(field, v.rule) for field, v in problems] == [("cloud_exempt_reason", rule)]
    reasoned = entry(cloud="exempt", cloud_exempt_reason="涉密信息系统")
    assert domain.entry_violations(reasoned, profile) == []


def test_a_profile_without_exemptions_refuses_exempt_whatever_the_reason() -> None:
    profile = _with_registry(
        load_profile("xiangfen"),
        government_cloud={"exempt_allowed": False},
    )
    reasoned = entry(cloud="exempt", cloud_exempt_reason="涉密信息系统")
    problems = domain.entry_problems(reasoned, profile)
    assert [(field, v.rule) for field, v in problems] == [("cloud", "xiangfen:35")]


def _with_registry(profile: PolicyProfile, **sections: dict[str, Any]) -> PolicyProfile:
    registry = profile.registry
    updates = {
        name: getattr(registry, name).model_copy(update=changes)
        for name, changes in sections.items()
    }
    return profile.model_copy(update={"registry": registry.model_copy(update=updates)})


def test_every_refusal_is_reported_with_its_field() -> None:
    broken = entry(network="private", cloud="exempt")
    problems = domain.entry_problems(broken, load_profile("xiangfen"))
    assert [(field, v.rule) for field, v in problems] == [
        ("private_network_approval", "xiangfen:11"),
        ("cloud_exempt_reason", "xiangfen:35"),
    ]
    for _, violation in problems:
        assert violation.message_zh and violation.message_en


# --- facts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sharing_connected", "shared_resources", "data_shared"),
    [(True, 1, True), (True, 0, False), (False, 3, False), (False, 0, False)],
)
def test_data_is_shared_when_connected_with_a_shared_resource(
    sharing_connected: bool, shared_resources: int, data_shared: bool
) -> None:
    facts = domain.facts(
        entry(sharing_connected=sharing_connected, shared_resource_count=shared_resources)
    )
    assert facts.data_shared is data_shared


@pytest.mark.parametrize(
    ("cloud", "reason", "on_cloud"),
    [
        ("on_cloud", None, True),
        ("exempt", "涉密信息系统", True),
        ("exempt", None, False),
        ("exempt", " ", False),
        ("migrating", None, False),
        ("not_migrated", None, False),
    ],
)
def test_on_cloud_means_on_the_government_cloud_or_exempt_with_a_reason(
    cloud: str, reason: str | None, on_cloud: bool
) -> None:
    assert domain.facts(entry(cloud=cloud, cloud_exempt_reason=reason)).on_cloud is on_cloud


@pytest.mark.parametrize(
    ("mlps_level", "crypto_assessed", "secure"),
    [(3, True, True), (None, True, False), (3, False, False), (None, False, False)],
)
def test_secure_needs_an_mlps_level_and_a_crypto_assessment(
    mlps_level: int | None, crypto_assessed: bool, secure: bool
) -> None:
    facts = domain.facts(entry(mlps_level=mlps_level, crypto_assessed=crypto_assessed))
    assert facts.secure is secure


@pytest.mark.parametrize("status", ["planned", "building", "operating"])
def test_every_system_but_a_retired_one_counts_as_catalogued(status: str) -> None:
    assert domain.facts(entry(status=status)).catalogued
    assert not domain.facts(entry(status="retired")).catalogued


# --- compliance -------------------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", PROFILES)
def test_a_fully_compliant_entry_has_no_violations(profile_id: str) -> None:
    assert domain.compliance(entry(), load_profile(profile_id)) == []


@pytest.mark.parametrize(
    ("profile_id", "expected"),
    [
        (
            "linfen-water",
            [
                "linfen-water:10",
                "linfen-water:9",
                "linfen-water:11",
                "linfen-water:29",
                "linfen-water:30",
                "linfen-water:30",
            ],
        ),
        (
            "leshan",
            [
                "leshan:9",
                "leshan:20",
                "leshan:11",
                "leshan:8.3",
                "leshan:51",
                "leshan:51",
                "leshan:8.10",
            ],
        ),
        ("jincheng", ["jincheng:7", "jincheng:9", "jincheng:27", "jincheng:28", "jincheng:28"]),
    ],
)
def test_compliance_cites_every_missing_duty_in_order(profile_id: str, expected: list[str]) -> None:
    neglected = entry(
        status="retired",
        cloud="not_migrated",
        sharing_connected=False,
        mlps_level=None,
        crypto_assessed=False,
        asset_registered=False,
        resource_count=0,
        shared_resource_count=0,
    )
    assert cited(domain.compliance(neglected, load_profile(profile_id))) == expected


@pytest.mark.parametrize("profile_id", PROFILES)
def test_only_leshan_requires_asset_registration(profile_id: str) -> None:
    violations = domain.compliance(entry(asset_registered=False), load_profile(profile_id))
    assert cited(violations) == (["leshan:8.10"] if profile_id == "leshan" else [])


def test_compliance_includes_the_write_time_refusals() -> None:
    # An entry stored before a rule changed still shows what it breaks.
    violations = domain.compliance(entry(cloud="exempt"), load_profile("linfen-water"))
    assert cited(violations) == ["linfen-water:29"]


def test_migrating_counts_as_off_the_cloud() -> None:
    violations = domain.compliance(entry(cloud="migrating"), load_profile("xiangfen"))
    assert cited(violations) == ["xiangfen:35"]


# --- history ----------------------------------------------------------------------------------


def test_a_new_entry_records_every_field_as_set_from_nothing() -> None:
    after = {"name": "甲", "mlps_level": None, "sharing_connected": False}
    assert domain.changes(None, after) == {
        "name": {"before": None, "after": "甲"},
        "sharing_connected": {"before": None, "after": False},
    }


def test_changes_lists_only_the_fields_that_differ() -> None:
    before = entry()
    after = {**before, "cloud": "migrating", "name": before["name"]}
    assert domain.changes(before, after) == {"cloud": {"before": "on_cloud", "after": "migrating"}}
    assert domain.changes(before, dict(before)) == {}


def test_false_and_zero_are_changes_from_true_and_one() -> None:
    before = {"sharing_connected": True, "resource_count": 1}
    after = {"sharing_connected": False, "resource_count": 0}
    assert set(domain.changes(before, after)) == {"sharing_connected", "resource_count"}
