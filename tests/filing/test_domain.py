"""The filing rules, pure: deadlines, pending years, on-time verdicts, what each
profile owes and what an acceptance filing must carry."""

from __future__ import annotations

from datetime import date

import pytest

from services.filing import domain
from shared.calendar import WorkdayCalendar
from shared.policy import load_profile
from shared.policy.loader import PROFILE_IDS

CAL = WorkdayCalendar()


def test_a_count_into_an_unknown_year_is_pending_never_guessed() -> None:
    assert domain.count(CAL, date(2026, 9, 30), 5) == domain.Deadline(date(2026, 10, 13))
    pending = domain.count(CAL, date(2026, 12, 18), 30)
    assert (pending.due_on, pending.unknown_year, pending.status) == (
        None,
        2027,
        "pending_calendar",
    )
    loaded = CAL.copy()
    loaded.load_year(2027, [date(2027, 1, 1)], [])
    assert domain.count(loaded, date(2026, 12, 18), 30).status == "open"
    assert domain.count(CAL, date(2026, 12, 18), 30).status == "pending_calendar"  # untouched


@pytest.mark.parametrize(
    ("filed_on", "deadline", "verdict"),
    [
        (date(2026, 10, 13), domain.Deadline(date(2026, 10, 13)), True),
        (date(2026, 10, 14), domain.Deadline(date(2026, 10, 13)), False),
        (date(2026, 12, 31), domain.Deadline(None, 2027), True),
        (date(2027, 1, 2), domain.Deadline(None, 2027), None),
        (date(2027, 1, 2), domain.Deadline(None), None),
    ],
)
def test_on_time(filed_on: date, deadline: domain.Deadline, verdict: bool | None) -> None:
    assert domain.on_time(filed_on, deadline) is verdict


def test_months_and_next_check() -> None:
    assert domain.add_months(date(2026, 8, 31), 3) == date(2026, 11, 30)
    assert domain.add_months(date(2026, 11, 15), 24) == date(2028, 11, 15)
    assert domain.next_check("open", date(2026, 12, 31)) == date(2027, 1, 1)
    assert domain.next_check("pending_calendar", None) is None
    assert domain.next_check("met", date(2026, 12, 31)) is None


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_profile_owes_its_acceptance_report_and_application(profile_id: str) -> None:
    profile = load_profile(profile_id)
    plans = domain.approval_plans(profile, date(2026, 12, 31), [2026])
    assert plans[0].type == "acceptance_application"
    report = domain.acceptance_report_plan(CAL, profile, date(2026, 2, 13))
    expected = {"jincheng": date(2026, 3, 2), "leshan": None}.get(profile_id, date(2026, 4, 2))
    assert report.deadline.due_on == expected
    assert report.rule == profile.acceptance_filing.rule
    contract = domain.filing_plan(CAL, profile, "contract", "x", date(2026, 9, 30))
    if profile_id == "leshan":
        assert contract is None
    else:
        assert contract is not None and contract.deadline.due_on == date(2026, 10, 13)


def test_what_each_profile_owes_from_approval() -> None:
    kinds = {
        p: sorted((x.type, x.period) for x in domain.approval_plans(load_profile(p), None, [2026]))
        for p in PROFILE_IDS
    }
    assert kinds["leshan"] == [("acceptance_application", ""), ("performance_monitoring", "2026")]
    assert kinds["jincheng"] == [("acceptance_application", "")]
    for p in ("linfen-water", "xiangfen", "xinzhou-transport"):
        assert kinds[p] == [("acceptance_application", ""), ("self_evaluation", "2026")]
    leshan = domain.go_live_plan(load_profile("leshan"), date(2026, 8, 1))
    assert leshan is not None and leshan.deadline.due_on == date(2028, 8, 1)
    assert domain.go_live_plan(load_profile("xiangfen"), date(2026, 8, 1)) is None


def _facts(**overrides: object) -> domain.AcceptanceFacts:
    values: dict[str, object] = {
        "delivery": "self_build",
        "document_types": frozenset(),
        "passed": True,
        "catalogue_joined": True,
        "secure_controllable": True,
        "accepted_on": date(2026, 11, 2),
        "trial_run_started_on": None,
        "handover_filed": False,
    }
    values.update(overrides)
    return domain.AcceptanceFacts(**values)  # type: ignore[arg-type]


def test_acceptance_refusals_by_profile() -> None:
    rules = {
        p: [v.rule for v in domain.acceptance_refusals(load_profile(p), _facts())]
        for p in PROFILE_IDS
    }
    assert rules["leshan"] == ["leshan:31"] * 8 + ["leshan:43"]  # 7 materials, trial, handover
    assert rules["xinzhou-transport"] == ["xinzhou-transport:12"]
    assert rules["jincheng"] == rules["xiangfen"] == rules["linfen-water"] == []
    content = domain.acceptance_refusals(
        load_profile("xiangfen"), _facts(catalogue_joined=False, secure_controllable=False)
    )
    assert [v.rule for v in content] == ["xiangfen:23", "xiangfen:24"]
    # A failed acceptance need not show the content it failed on.
    assert (
        domain.acceptance_refusals(
            load_profile("xiangfen"), _facts(passed=False, catalogue_joined=False)
        )
        == []
    )
    # leshan's purchased services carry no self-build materials; a 3-month trial suffices.
    bought = _facts(
        delivery="purchase_service", trial_run_started_on=date(2026, 8, 2), handover_filed=True
    )
    assert domain.acceptance_refusals(load_profile("leshan"), bought) == []
    short = _facts(
        delivery="purchase_service", trial_run_started_on=date(2026, 8, 3), handover_filed=True
    )
    assert [v.rule for v in domain.acceptance_refusals(load_profile("leshan"), short)] == [
        "leshan:31"
    ]


def test_who_records_an_acceptance() -> None:
    assert domain.may_record_acceptance(True, False, "self_build")
    assert domain.may_record_acceptance(False, True, "purchase_service")
    assert not domain.may_record_acceptance(False, True, "self_build")
    assert not domain.may_record_acceptance(False, False, "purchase_service")


def test_dates_at_the_edge_of_the_calendar_do_not_overflow() -> None:
    assert domain.next_check("open", date.max) is None
    far = _facts(delivery="purchase_service", trial_run_started_on=date.max, handover_filed=True)
    assert [v.rule for v in domain.acceptance_refusals(load_profile("leshan"), far)] == [
        "leshan:31"
    ]
