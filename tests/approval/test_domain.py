"""Approval's rules, pure: every transition of the lifecycle, every pre-screen rule
(each naming its article), the decision's arithmetic, changes and sanctions."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.approval import domain
from services.approval.domain import Application, SanctionFact, SystemFacts
from shared.policy import PROFILE_IDS, load_profile

LESHAN = load_profile("leshan")
XIANGFEN = load_profile("xiangfen")
JINCHENG = load_profile("jincheng")
XINZHOU = load_profile("xinzhou-transport")
TODAY = date(2026, 11, 26)
ORG = uuid.UUID("01936b2e-0000-7000-8000-000000000001")
CO = uuid.UUID("01936b2e-0000-7000-8000-000000000002")
OTHER = uuid.UUID("01936b2e-0000-7000-8000-000000000003")
SYS = uuid.UUID("01936b2e-0000-7000-8000-0000000000a1")

# Every allowed move, written out by hand (the table in domain is checked against it).
ALLOWED = {
    ("draft", "submitted"),
    ("submitted", "approved"),
    ("submitted", "rejected"),
    ("approved", "in_construction"),
    ("approved", "accepted"),
    ("approved", "in_operation"),
    ("approved", "suspended"),
    ("approved", "terminated"),
    ("in_construction", "accepted"),
    ("in_construction", "in_operation"),
    ("in_construction", "suspended"),
    ("in_construction", "terminated"),
    ("accepted", "in_operation"),
    ("accepted", "suspended"),
    ("accepted", "terminated"),
    ("in_operation", "suspended"),
    ("in_operation", "terminated"),
    ("suspended", "approved"),
    ("suspended", "in_construction"),
    ("suspended", "accepted"),
    ("suspended", "in_operation"),
    ("suspended", "terminated"),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(domain.STATUSES, repeat=2)))
def test_every_transition_is_allowed_or_refused_with_a_rule(current: str, new: str) -> None:
    violation = domain.transition_violation(current, new)
    if (current, new) in ALLOWED:
        assert violation is None
    else:
        assert violation is not None
        expected = domain.FINAL if current in ("rejected", "terminated") else domain.LIFECYCLE
        assert violation.rule == expected
        assert violation.message_zh and violation.message_en


def test_a_suspended_project_resumes_only_where_it_was() -> None:
    assert domain.resume_violation("in_construction", "in_construction") is None
    assert domain.resume_violation("in_construction", "terminated") is None
    refused = domain.resume_violation("in_construction", "in_operation")
    assert refused is not None and refused.rule == domain.RESUME


# --- the pre-screen ---------------------------------------------------------------------


def application(**overrides: object) -> Application:
    base = Application(
        org=ORG,
        co_orgs=(CO,),
        jurisdiction="leshan",
        delivery="self_build",
        kind="new",
        total_investment=Decimal("6000000.00"),
        annual_budgets=((2026, Decimal("4000000.00")), (2027, Decimal("2000000.00"))),
        system_ids=(SYS,),
        declarations={},
        merged_plan_ground=None,
        materials=frozenset({"feasibility_study", "preliminary_design"}),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def system(**overrides: object) -> SystemFacts:
    base = SystemFacts(
        id=SYS,
        org=ORG,
        jurisdiction="leshan",
        status="operating",
        resource_count=3,
        catalogued=True,
        data_shared=True,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def screen(
    app: Application, systems: dict[uuid.UUID, SystemFacts] | None = None, **kw: object
) -> list[str]:
    found = domain.prescreen(
        app,
        load_profile(app.jurisdiction),
        {SYS: system(jurisdiction=app.jurisdiction)} if systems is None else systems,
        kw.get("sanctions", ()),  # type: ignore[arg-type]
        upgrades_unaccepted=bool(kw.get("upgrades_unaccepted", False)),
        today=TODAY,
    )
    return [v.rule for v in found]


def test_a_complete_application_passes() -> None:
    assert screen(application()) == []


def test_an_unknown_system_is_named_under_catalogue_first() -> None:
    found = domain.prescreen(application(), LESHAN, {}, (), upgrades_unaccepted=False, today=TODAY)
    assert [v.rule for v in found] == ["leshan:9"]
    assert str(SYS) in found[0].message_en and str(SYS) in found[0].message_zh


def test_a_system_of_another_jurisdiction_counts_as_unknown() -> None:
    assert screen(application(), {SYS: system(jurisdiction="jincheng")}) == ["leshan:9"]


def test_a_retired_system_is_not_catalogued() -> None:
    assert screen(application(), {SYS: system(status="retired", catalogued=False)}) == ["leshan:9"]


def test_jincheng_has_no_catalogue_first_article_so_approval_names_its_own_rule() -> None:
    app = application(
        jurisdiction="jincheng",
        materials=frozenset(m.material for m in JINCHENG.required_materials),
    )
    assert screen(app, {}) == [domain.SYSTEM_UNKNOWN]


def test_a_system_of_neither_unit_is_refused() -> None:
    assert screen(application(), {SYS: system(org=OTHER)}) == [domain.SYSTEM_OF_OTHERS]
    assert screen(application(), {SYS: system(org=CO)}) == []  # a co-builder's


def test_a_system_without_resource_catalogue_is_refused_leshan_20() -> None:
    assert screen(application(), {SYS: system(resource_count=0)}) == ["leshan:20"]


def test_missing_materials_each_cited() -> None:
    assert screen(application(materials=frozenset())) == ["leshan:18", "leshan:18"]
    purchase = application(delivery="purchase_service", materials=frozenset())
    assert screen(purchase) == ["leshan:19"]
    xiangfen = application(jurisdiction="xiangfen", materials=frozenset({"proposal"}))
    assert screen(xiangfen) == ["xiangfen:8", "xiangfen:8", "xiangfen:8"]


@pytest.mark.parametrize(
    ("total", "ground", "passes"),
    [
        ("5000000.00", None, True),  # 不超过 500 万: the threshold itself qualifies
        ("5000000.01", None, False),
        ("5000000.01", "mandated", True),  # leshan:18.1
        ("5000000.01", "urgent", True),  # leshan:18.2
    ],
)
def test_leshan_18_merged_implementation_plan(total: str, ground: str | None, passes: bool) -> None:
    amount = Decimal(total)
    app = application(
        total_investment=amount,
        annual_budgets=((2026, amount),),
        materials=frozenset({"implementation_plan"}),
        merged_plan_ground=ground,
    )
    rules = screen(app)
    if passes:
        assert rules == []
    else:  # the feasibility study and preliminary design are missing, and why
        assert rules == ["leshan:18", "leshan:18", "leshan:18.3"]


def test_budgets_must_add_up() -> None:
    app = application(annual_budgets=((2026, Decimal("4000000.00")), (2027, Decimal("1999999.99"))))
    assert screen(app) == [domain.BUDGETS_ADD_UP]


@pytest.mark.parametrize("item", [n for n in LESHAN.negative_list if n.declared])
def test_each_declared_negative_list_item_refuses(item: object) -> None:
    key, rule = item.key, item.rule  # type: ignore[attr-defined]
    assert screen(application(declarations={key: True})) == [rule]


def test_negative_list_item_8_comes_from_the_data() -> None:
    assert screen(application(kind="upgrade"), upgrades_unaccepted=True) == ["leshan:8.8"]
    assert screen(application(kind="new"), upgrades_unaccepted=True) == []
    assert screen(application(kind="upgrade"), upgrades_unaccepted=False) == []


def test_profiles_without_a_negative_list_ignore_declarations() -> None:
    app = application(
        jurisdiction="xiangfen",
        materials=frozenset(m.material for m in XIANGFEN.required_materials),
        declarations={"new_datacenter_or_hardware": True},
    )
    assert screen(app) == []


@pytest.mark.parametrize(
    ("trigger", "rule", "years", "blocked_in"),
    [
        ("acceptance_failed", "leshan:32", (2026, None), [2026, 2027, 2028, 2030]),
        ("data_not_shared", "leshan:33", (2027, 2027), [2027]),
        ("security_noncompliant", "leshan:51", (2026, None), [2026, 2027, 2028, 2030]),
    ],
)
def test_sanctions_bar_new_submissions(
    trigger: str, rule: str, years: tuple[int, int | None], blocked_in: list[int]
) -> None:
    assert domain.sanction_years(LESHAN, trigger, 2026) == years
    fact = SanctionFact(trigger, rule, *years)
    for year in (2025, 2026, 2027, 2028, 2030):
        found = domain.sanction_violations(LESHAN, [fact], year)
        assert [v.rule for v in found] == ([rule] if year in blocked_in else []), year
    assert domain.sanction_years(XIANGFEN, trigger, 2026) is None  # no such sanction there


def test_every_violation_at_once() -> None:
    app = application(
        materials=frozenset(),
        declarations={"dedicated_line_lease": True},
        annual_budgets=((2026, Decimal("1.00")),),
    )
    rules = screen(
        app,
        {},
        sanctions=[SanctionFact("acceptance_failed", "leshan:32", 2026, None)],
    )
    assert rules == [
        "leshan:9",
        "leshan:18",
        "leshan:18",
        domain.BUDGETS_ADD_UP,
        "leshan:8.2",
        "leshan:32",
    ]


def test_every_violation_at_once_with_an_isolated_system_and_no_consent() -> None:
    isolated = uuid.uuid4()
    app = complete("xinzhou-transport", system_ids=(SYS, isolated), materials=frozenset())
    systems = {
        SYS: system(jurisdiction="xinzhou-transport", resource_count=0),
        isolated: system(id=isolated, jurisdiction="xinzhou-transport", data_shared=False),
    }
    assert screen(app, systems) == [
        "xinzhou-transport:8",  # SYS: no resource catalogue
        "xinzhou-transport:10",  # the isolated one
        *["xinzhou-transport:7"] * 4,  # proposal, study, design, estimate
        "xinzhou-transport:7",  # the party group's consent
    ]


# --- isolated systems (linfen-water:11, xiangfen:11, xinzhou-transport:10, jincheng:9) ----

ISOLATED_RULE = {
    "linfen-water": "linfen-water:11",
    "xiangfen": "xiangfen:11",
    "xinzhou-transport": "xinzhou-transport:10",
    "jincheng": "jincheng:9",
    "leshan": "leshan:6",  # 原则上不再批准建设孤立信息系统
}


def complete(profile_id: str, **overrides: object) -> Application:
    """An application that passes ``profile_id``'s pre-screen with the default system."""
    materials = set(load_profile(profile_id).materials_for("self_build"))
    if profile_id == "xinzhou-transport":
        materials.add(domain.PARTY_GROUP_CONSENT)
    return replace(
        application(jurisdiction=profile_id, materials=frozenset(materials)),
        **overrides,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_an_isolated_system_is_refused_under_each_profiles_article(profile_id: str) -> None:
    assert load_profile(profile_id).isolated_systems_refused is not None
    app = complete(profile_id)
    shared = system(jurisdiction=profile_id)
    assert screen(app, {SYS: shared}) == []
    found = domain.prescreen(
        app,
        load_profile(profile_id),
        {SYS: replace(shared, data_shared=False)},
        (),
        upgrades_unaccepted=False,
        today=TODAY,
    )
    assert [v.rule for v in found] == [ISOLATED_RULE[profile_id]]
    assert str(SYS) in found[0].message_zh and str(SYS) in found[0].message_en
    assert "孤立" in found[0].message_zh and "isolated" in found[0].message_en


@pytest.mark.parametrize(
    ("kind", "refused"), [("new", True), ("upgrade", True), ("operations", False)]
)
def test_only_building_an_isolated_system_is_refused(kind: str, refused: bool) -> None:
    """An operations project builds nothing: an existing system that does not share loses
    its operations money instead (funding's data_shared gate), it is not refused here."""
    app = complete("xiangfen", kind=kind)
    rules = screen(app, {SYS: system(jurisdiction="xiangfen", data_shared=False)})
    assert rules == (["xiangfen:11"] if refused else [])


def test_an_unknown_system_is_not_also_called_isolated() -> None:
    app = complete("linfen-water")
    assert screen(app, {}) == ["linfen-water:10"]  # catalogue first, once
    elsewhere = system(jurisdiction="jincheng", data_shared=False)
    assert screen(app, {SYS: elsewhere}) == ["linfen-water:10"]


def test_each_isolated_system_is_named() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    app = complete("jincheng", system_ids=(SYS, a, b))
    systems = {
        SYS: system(jurisdiction="jincheng"),
        a: system(id=a, jurisdiction="jincheng", data_shared=False),
        b: system(id=b, jurisdiction="jincheng", data_shared=False),
    }
    found = domain.prescreen(app, JINCHENG, systems, (), upgrades_unaccepted=False, today=TODAY)
    assert [v.rule for v in found] == ["jincheng:9", "jincheng:9"]
    assert str(a) in found[0].message_en and str(b) in found[1].message_en


# --- the party group's consent (xinzhou-transport:7, 10) --------------------------------


def test_xinzhou_transport_submits_only_with_the_party_groups_consent() -> None:
    with_consent = complete("xinzhou-transport")
    assert screen(with_consent) == []
    without = replace(with_consent, materials=with_consent.materials - {"party_group_consent"})
    found = domain.consent_violations(without, XINZHOU)
    assert [v.rule for v in found] == ["xinzhou-transport:7"]
    assert "党组" in found[0].message_zh and "party group" in found[0].message_en
    assert screen(without) == ["xinzhou-transport:7"]
    # the rule cites the application stage of the profile's consent: articles 7 and 10
    stage = domain.consent_stage(XINZHOU, "application")
    assert stage is not None and set(stage.citation) == {
        "xinzhou-transport:7",
        "xinzhou-transport:10",
    }


@pytest.mark.parametrize("profile_id", [p for p in PROFILE_IDS if p != "xinzhou-transport"])
def test_other_profiles_ask_no_party_group_consent(profile_id: str) -> None:
    assert load_profile(profile_id).party_group_consent is None
    assert domain.consent_stage(load_profile(profile_id), "application") is None
    assert screen(complete(profile_id)) == []


# --- opinions and the decision ------------------------------------------------------------


def test_leshan_22_needs_five_opinions_jincheng_the_technical_one() -> None:
    assert [v.rule for v in domain.missing_opinions(LESHAN, [])] == ["leshan:22"] * 5
    assert (
        domain.missing_opinions(
            LESHAN, ["cyberspace", "crypto", "public_security", "finance", "technical"]
        )
        == []
    )
    assert [v.rule for v in domain.missing_opinions(JINCHENG, ["finance"])] == ["jincheng:8"]
    assert domain.missing_opinions(XIANGFEN, []) == []


def test_approved_amounts_never_above_what_was_asked() -> None:
    asked = ((2026, Decimal("100.00")), (2027, Decimal("50.00")))
    ok = domain.decision_violations(
        Decimal("150.00"),
        asked,
        Decimal("140.00"),
        [(2026, Decimal("90.00")), (2027, Decimal("50.00"))],
    )
    assert ok == []
    rules = [
        v.rule
        for v in domain.decision_violations(
            Decimal("150.00"),
            asked,
            Decimal("150.01"),
            [(2026, Decimal("100.01")), (2028, Decimal("50.00"))],
        )
    ]
    assert rules == [domain.WITHIN_ASKED, domain.WITHIN_ASKED, domain.YEARS_ASKED]


def test_project_number() -> None:
    assert domain.project_number("jincheng", 2026, 7) == "jincheng-2026-0007"
    assert domain.project_number("leshan", 2026, 12345) == "leshan-2026-12345"


# --- changes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adjusted", "new_total", "goals", "expected"),
    [
        ("150000.00", "1000000.00", False, "self_adjustment"),  # exactly 15 %
        ("150000.01", "1000000.00", False, "major_change"),  # one fen above
        ("0.00", "1000000.01", False, "major_change"),  # total exceeded
        ("0.00", "900000.00", True, "major_change"),  # goals changed
    ],
)
def test_leshan_29_self_adjustment(
    adjusted: str, new_total: str, goals: bool, expected: str
) -> None:
    classification, rule = domain.classify_change(
        LESHAN, Decimal("1000000.00"), Decimal(new_total), Decimal(adjusted), goals
    )
    assert classification == expected
    assert rule == ("leshan:29" if expected == "self_adjustment" else "leshan:28")


@pytest.mark.parametrize("profile_id", [p for p in PROFILE_IDS if p != "leshan"])
def test_without_the_rule_any_change_is_major(profile_id: str) -> None:
    profile = load_profile(profile_id)
    classification, rule = domain.classify_change(
        profile, Decimal("1000000.00"), Decimal("1000000.00"), Decimal("0.01"), False
    )
    assert classification == "major_change"
    expected = (
        profile.change_application.rule
        if profile.change_application
        else domain.CHANGE_NEEDS_APPROVAL
    )
    assert rule == expected


def test_leshan_28_a_major_change_already_made_is_refused() -> None:
    refusal = domain.change_refusal(LESHAN, "major_change", True)
    assert refusal is not None and refusal.rule == "leshan:28"
    assert domain.change_refusal(LESHAN, "major_change", False) is None
    assert domain.change_refusal(LESHAN, "self_adjustment", True) is None
    other = domain.change_refusal(XIANGFEN, "major_change", True)
    assert other is not None and other.rule == (
        XIANGFEN.change_application.rule
        if XIANGFEN.change_application
        else domain.CHANGE_NEEDS_APPROVAL
    )


@pytest.mark.parametrize("status", domain.STATUSES)
def test_changes_only_while_approved_or_building(status: str) -> None:
    violation = domain.change_status_violation(status)
    assert (violation is None) == (status in ("approved", "in_construction"))


def test_termination_cites_leshan_30_where_it_exists() -> None:
    assert domain.termination_rule(LESHAN) == "leshan:30"
    assert domain.termination_rule(XIANGFEN) is None


# --- moves from events --------------------------------------------------------------------


def test_filing_events_move_forward_only() -> None:
    assert domain.target_of_filing("govit.filing.contract.filed", None) == "in_construction"
    assert domain.target_of_filing("govit.filing.acceptance.recorded", True) == "accepted"
    assert domain.target_of_filing("govit.filing.acceptance.recorded", False) is None
    assert domain.target_of_filing("govit.filing.acceptance.filed", True) == "in_operation"
    assert domain.move_from_event("approved", "in_construction")
    assert not domain.move_from_event("in_operation", "in_construction")  # late contract
    assert not domain.move_from_event("suspended", "accepted")  # resumes, never jumps
    assert not domain.move_from_event("draft", "in_construction")


def test_rectification_orders_suspend_resume_and_terminate() -> None:
    assert domain.rectification_target("in_construction", None, True, False) == "suspended"
    assert domain.rectification_target("suspended", "in_construction", True, False) is None
    assert (
        domain.rectification_target("suspended", "in_construction", False, False)
        == "in_construction"
    )
    assert domain.rectification_target("in_construction", None, False, False) is None
    assert domain.rectification_target("suspended", "accepted", True, True) == "terminated"
    assert domain.rectification_target("terminated", None, False, True) is None
    assert domain.rectification_target("draft", None, True, False) is None


def test_a_filing_while_suspended_moves_where_the_project_resumes() -> None:
    assert domain.move_while_suspended("approved", "in_construction")
    assert not domain.move_while_suspended("in_operation", "in_construction")
    assert not domain.move_while_suspended(None, "in_construction")
