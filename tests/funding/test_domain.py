"""The funding rules, pure: every profile × facts → open, or the violations with citations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.funding import domain
from services.funding.domain import (
    Facts,
    FactValue,
    Position,
    ProjectState,
    Record,
    Scenario,
    Source,
    SystemState,
)
from shared.calendar import load_calendar
from shared.policy import PROFILE_IDS, load_profile

YEAR = 2026
EVERYTHING = dict.fromkeys(domain.GATE_FACTS, True) | {"approved": True}


def facts(**changes: bool | FactValue) -> Facts:
    values = {k: FactValue(v) for k, v in EVERYTHING.items()}
    values |= {k: v if isinstance(v, FactValue) else FactValue(v) for k, v in changes.items()}
    return Facts(values)


LAST_YEAR = FactValue(False, since=date(YEAR - 1, 6, 1))
THIS_YEAR = FactValue(False, since=date(YEAR, 3, 1))
ESCALATED = FactValue(True, rule="jincheng:22")

# (profile, category, facts that differ from "everything holds", expected primary citations)
CASES: list[tuple[str, str, dict[str, bool | FactValue], list[str]]] = [
    # jincheng: acceptance filing (21) gates later construction and all operations; sharing (9)
    ("jincheng", "operations", {}, []),
    ("jincheng", "operations", {"acceptance_filed": False}, ["jincheng:21"]),
    ("jincheng", "operations", {"data_shared": False}, ["jincheng:9"]),
    ("jincheng", "operations", {"systems_catalogued": False}, []),  # no catalogue article
    ("jincheng", "construction", {"acceptance_filed": False}, []),  # before acceptance
    ("jincheng", "construction", {"acceptance_filed": False, "accepted": True}, ["jincheng:21"]),
    ("jincheng", "construction", {"approved": False}, ["funding:project-approved"]),
    ("jincheng", "operations", {"rectification_escalated": ESCALATED}, ["jincheng:22"]),
    ("jincheng", "construction", {"terminated": True}, ["jincheng:22"]),
    # linfen-water: catalogue (10), acceptance (23), sharing (11)
    ("linfen-water", "construction", {"systems_catalogued": False}, ["linfen-water:10"]),
    ("linfen-water", "construction", {"acceptance_filed": False}, []),
    (
        "linfen-water",
        "construction",
        {"acceptance_filed": False, "accepted": True},
        ["linfen-water:23"],
    ),
    (
        "linfen-water",
        "operations",
        {"systems_catalogued": False, "acceptance_filed": False, "data_shared": False},
        ["linfen-water:10", "linfen-water:23", "linfen-water:11"],
    ),
    ("linfen-water", "operations", {"cloud_migrated": False, "security_compliant": False}, []),
    ("linfen-water", "operations", {"suspended": True}, ["linfen-water:25"]),
    # xiangfen: catalogue (10), acceptance (25), sharing (11)
    ("xiangfen", "construction", {"systems_catalogued": False}, ["xiangfen:10"]),
    ("xiangfen", "operations", {"acceptance_filed": False}, ["xiangfen:25"]),
    ("xiangfen", "operations", {"data_shared": False}, ["xiangfen:11"]),
    ("xiangfen", "construction", {"contract_filed": False, "supervisor_filed": False}, []),
    # xinzhou-transport: contract and supervisor filings gate construction too (21, 5)
    ("xinzhou-transport", "construction", {"contract_filed": False}, ["xinzhou-transport:21"]),
    ("xinzhou-transport", "construction", {"supervisor_filed": False}, ["xinzhou-transport:21"]),
    ("xinzhou-transport", "construction", {"systems_catalogued": False}, ["xinzhou-transport:8"]),
    ("xinzhou-transport", "operations", {"cloud_migrated": False}, ["xinzhou-transport:10"]),
    ("xinzhou-transport", "operations", {"data_shared": False}, ["xinzhou-transport:10"]),
    (
        "xinzhou-transport",
        "operations",
        {"evaluation_result_filed": False},
        ["xinzhou-transport:5"],
    ),
    ("xinzhou-transport", "operations", {"acceptance_filed": False}, ["xinzhou-transport:21"]),
    ("xinzhou-transport", "construction", {"evaluation_result_filed": False}, []),
    # leshan: catalogue (9), acceptance passed (32), sharing next budget year (33), security (51)
    ("leshan", "construction", {"systems_catalogued": False}, ["leshan:9"]),
    ("leshan", "construction", {"acceptance_filed": False, "accepted": True}, []),
    ("leshan", "operations", {"acceptance_passed": False}, ["leshan:32"]),
    ("leshan", "operations", {"acceptance_filed": False}, []),  # passed is what counts
    ("leshan", "operations", {"security_compliant": False}, ["leshan:51"]),
    ("leshan", "operations", {"data_shared": THIS_YEAR}, []),  # hits next year's money
    ("leshan", "operations", {"data_shared": LAST_YEAR}, ["leshan:33"]),
    ("leshan", "operations", {"data_shared": False}, ["leshan:33"]),  # never known shared
    ("leshan", "operations", {"cloud_migrated": False}, []),
    ("leshan", "construction", {"suspended": True}, ["leshan:47"]),
]


@pytest.mark.parametrize(("profile_id", "category", "changes", "expected"), CASES)
def test_gate_table(
    profile_id: str, category: str, changes: dict[str, bool | FactValue], expected: list[str]
) -> None:
    profile = load_profile(profile_id, "2019-1" if profile_id == "jincheng" else "2022-1")
    gate = domain.gate(profile, category, facts(**changes), YEAR)  # type: ignore[arg-type]
    assert [v.rule for v in gate.violations] == expected
    assert gate.open is (not expected)
    assert all(v.message_zh and v.message_en for v in gate.violations)


def test_every_gate_item_of_every_profile_refuses_alone_with_its_citation() -> None:
    for profile_id in PROFILE_IDS:
        profile = load_profile(profile_id)
        for category in domain.CATEGORIES:
            assert domain.gate(profile, category, facts(accepted=True), YEAR).open
            for item in profile.gates(category):
                missing = LAST_YEAR if item.timing == "next_budget_year" else FactValue(False)
                gate = domain.gate(
                    profile, category, facts(accepted=True, **{item.fact: missing}), YEAR
                )
                assert not gate.open, (profile_id, category, item.fact)
                assert [v.rule for v in gate.violations] == [item.rule]


def test_nothing_known_closes_both_gates_citing_approval() -> None:
    for profile_id in PROFILE_IDS:
        for gate in domain.gates(load_profile(profile_id), Facts(), YEAR).values():
            assert not gate.open
            assert gate.violations[0].rule == "funding:project-approved"


# --- facts from the projection --------------------------------------------------------


def source(type_: str, n: int) -> Source:
    return Source(type_, f"e{n}", datetime(2026, 5, n, tzinfo=UTC))


def project(
    status: str = "in_construction", systems: tuple[str, ...] = ("s1", "s2")
) -> ProjectState:
    return ProjectState(
        status, Decimal("100"), systems, source("govit.approval.project.approved", 1)
    )


def system(id_: str, n: int, **flags: bool) -> SystemState:
    values = {"catalogued": True, "data_shared": True, "on_cloud": True, "secure": True} | flags
    return SystemState(id_, source=source("govit.registry.system.updated", n), **values)


def test_a_fact_remembers_the_event_that_set_it() -> None:
    filed = Record("filing", "acceptance", source("govit.filing.acceptance.filed", 9), passed=True)
    f = domain.facts_of(project(), [system("s1", 2), system("s2", 3, data_shared=False)], [filed])
    assert f["systems_catalogued"].value and f["systems_catalogued"].source == source(
        "govit.registry.system.updated", 3
    )
    assert not f["data_shared"].value
    assert f["data_shared"].source.id == "e3"  # the failing system's event
    assert f["acceptance_filed"].source.id == "e9" and f["acceptance_passed"].value
    assert f["accepted"].value and f["approved"].value


def test_an_unknown_system_is_not_catalogued() -> None:
    f = domain.facts_of(project(), [system("s1", 2)], [])
    assert not f["systems_catalogued"].value


def test_the_latest_acceptance_decides_passed() -> None:
    failed = Record(
        "filing", "acceptance", source("govit.filing.acceptance.filed", 4), passed=False
    )
    passed = Record("filing", "acceptance", source("govit.filing.acceptance.filed", 8), passed=True)
    assert domain.facts_of(project(), [], [passed, failed])["acceptance_passed"].value
    assert not domain.facts_of(project(), [], [failed])["acceptance_passed"].value


def test_only_an_escalated_order_suspends() -> None:
    def order(status: str) -> Record:
        return Record("rectification", status, source("x", 2), rule="xiangfen:28")

    assert not domain.facts_of(project(), [], [order("open")]).holds("rectification_escalated")
    escalated = domain.facts_of(project(), [], [order("escalated")])["rectification_escalated"]
    assert escalated.value and escalated.rule == "xiangfen:28"


def test_a_draft_or_rejected_project_is_not_approved() -> None:
    for status in ("draft", "submitted", "rejected", "terminated"):
        assert not domain.facts_of(project(status), [], []).holds("approved")


# --- money ----------------------------------------------------------------------------


def position(**changes: str) -> Position:
    base = {
        "effective_allocation": "100",
        "in_notice": "0",
        "disbursed_category_year": "0",
        "budget_year": "100",
        "disbursed_year": "0",
        "approved_total": "300",
        "disbursed_total": "0",
    } | changes
    return Position(**{k: Decimal(v) for k, v in base.items()})


def test_money_within_every_limit_goes() -> None:
    assert domain.disbursement_violations(Decimal("100"), position()) == []


def test_money_names_every_limit_it_breaks() -> None:
    at = position(disbursed_category_year="90", disbursed_year="95", disbursed_total="295")
    rules = [v.rule for v in domain.disbursement_violations(Decimal("10.01"), at)]
    assert rules == [
        "funding:effective-allocation",
        "funding:annual-budget",
        "funding:approved-total",
    ]


def test_allocation_in_notice_is_not_money_yet() -> None:
    at = position(effective_allocation="0", in_notice="100")
    [violation] = domain.disbursement_violations(Decimal("1"), at)
    assert violation.rule == "funding:effective-allocation" and "100" in violation.message_en


def test_a_return_never_exceeds_what_was_disbursed() -> None:
    assert domain.return_violations(Decimal("5"), Decimal("5")) == []
    assert domain.return_violations(Decimal("5.01"), Decimal("5"))[0].rule == domain.RETURN_EXCEEDED


# --- public notice and what-if ----------------------------------------------------------


def test_public_notice_where_the_profile_requires_it() -> None:
    assert domain.notice_workdays(load_profile("xiangfen"), 5) == 5
    assert domain.notice_workdays(load_profile("jincheng"), 7) == 7
    assert domain.notice_workdays(load_profile("leshan"), 5) == 0
    calendar = load_calendar()
    # 2026-09-30 + 5 working days: 1-7 Oct are off, Sat 10 Oct is an adjusted working day.
    assert domain.effective_on(date(2026, 9, 30), 5, calendar) == date(2026, 10, 13)
    assert domain.effective_on(date(2026, 9, 30), 0, calendar) == date(2026, 9, 30)


def test_what_if_acceptance_opens_operations_and_starts_deadlines() -> None:
    profile = load_profile("jincheng")
    now = facts(acceptance_filed=False, acceptance_passed=False)
    assert not domain.gate(profile, "operations", now, YEAR).open
    scenario = Scenario(acceptance_filed_on=date(2026, 6, 1), accepted_on=date(2026, 5, 29))
    assert domain.gate(profile, "operations", domain.suppose(now, scenario), YEAR).open
    [due] = domain.deadlines(profile, scenario, load_calendar())
    assert (due.type, due.rule, due.due_on) == (
        "acceptance_report",
        "jincheng:21",
        date(2026, 6, 9),
    )


def test_what_if_a_failed_acceptance_still_blocks_leshan() -> None:
    profile = load_profile("leshan")
    scenario = Scenario(acceptance_filed_on=date(2026, 6, 1), passed=False)
    gate = domain.gate(
        profile, "operations", domain.suppose(facts(acceptance_passed=False), scenario), YEAR
    )
    assert [v.rule for v in gate.violations] == ["leshan:32"]
    passed = Scenario(acceptance_filed_on=date(2026, 6, 1))
    [evaluation] = domain.deadlines(profile, passed, load_calendar())
    assert (evaluation.opens_on, evaluation.due_on) == (date(2027, 6, 1), date(2028, 6, 1))
