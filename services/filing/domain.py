"""The filing rules, pure: which obligations a project owes under its profile version,
when each falls due in Chinese working days, whether a filing is on time, and what an
acceptance filing must show. No I/O: dates and the calendar come in as arguments.

Deadlines (DOMAIN.md "Working days"): the event's day is day 0; a count that reaches
a year whose official schedule is unknown is never guessed: the obligation is
``pending_calendar`` with ``due_on`` None until an administrator loads that year.
"""

from __future__ import annotations

import calendar as months
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from shared.calendar import CalendarYearUnknown, WorkdayCalendar
from shared.errors import Violation
from shared.policy.profile import PolicyProfile
from shared.policy.sections import FilingRule

FilingType = Literal[
    "contract",
    "supervisor",
    "acceptance",
    "self_evaluation",
    "performance_monitoring",
    "progress",
    "acceptance_delay",
    "handover",
]
ObligationType = Literal[
    "contract_filing",
    "supervisor_filing",
    "acceptance_application",
    "acceptance_report",
    "self_evaluation",
    "performance_monitoring",
]
ObligationStatus = Literal["open", "met", "missed", "pending_calendar"]
OPEN_STATUSES: tuple[str, ...] = ("open", "pending_calendar")
# Obligations a filing may still meet: a late filing meets a missed one (on_time false).
UNMET_STATUSES: tuple[str, ...] = ("open", "pending_calendar", "missed")
# Project statuses under which a unit files (approved, and not rejected or terminated).
FILABLE_STATUSES = frozenset(
    {"approved", "in_construction", "accepted", "in_operation", "suspended"}
)
# The obligation each filing type meets; progress, acceptance_delay and handover meet none.
MEETS: dict[str, ObligationType] = {
    "contract": "contract_filing",
    "supervisor": "supervisor_filing",
    "acceptance": "acceptance_report",
    "self_evaluation": "self_evaluation",
    "performance_monitoring": "performance_monitoring",
}
# A rule no article states: the acceptance application is due by the project's own
# planned completion date (its approval), so it cites this service's rule.
PLANNED_COMPLETION_RULE = "filing:planned-completion"
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "acceptance": ("passed", "catalogue_joined", "secure_controllable"),
    "progress": ("period", "percent_complete"),
    "acceptance_delay": ("requested_until", "reason"),
}


@dataclass(frozen=True, slots=True)
class Deadline:
    due_on: date | None
    unknown_year: int | None = None  # the year a working-day count ran into, unknown

    @property
    def status(self) -> ObligationStatus:
        return "pending_calendar" if self.unknown_year is not None else "open"


@dataclass(frozen=True, slots=True)
class Plan:
    """An obligation to open: its deadline kept as its inputs where it counts workdays."""

    type: ObligationType
    period: str
    rule: str
    deadline: Deadline
    counted_from: date | None = None
    workdays: int | None = None


class LiveCalendar:
    """The process's calendar with the years loaded into the database applied: each
    request (and the scheduler) hands it the stored years, and a year whose version
    it has not seen yet is loaded, so every replica follows the database."""

    def __init__(self, calendar: WorkdayCalendar) -> None:
        self.calendar = calendar
        self.versions: dict[int, int] = {}

    def apply(self, years: Iterable[StoredYear]) -> WorkdayCalendar:
        for y in years:
            if self.versions.get(y.year) != y.version:
                holidays = [date.fromisoformat(d) for d in y.holidays]
                workdays = [date.fromisoformat(d) for d in y.workdays]
                self.calendar.load_year(y.year, holidays, workdays, y.source)
                self.versions[y.year] = y.version
        return self.calendar


class StoredYear(Protocol):
    @property
    def year(self) -> int: ...
    @property
    def holidays(self) -> list[str]: ...
    @property
    def workdays(self) -> list[str]: ...
    @property
    def source(self) -> str: ...
    @property
    def version(self) -> int: ...


class Workdays(Protocol):
    def add_workdays(self, start: date, days: int) -> date: ...


def count(calendar: Workdays, start: date, workdays: int) -> Deadline:
    """``workdays`` working days after ``start``, or pending on the year it cannot see."""
    try:
        return Deadline(calendar.add_workdays(start, workdays))
    except CalendarYearUnknown as unknown:
        return Deadline(None, unknown.year)


def deadline_of(
    calendar: Workdays, counted_from: date | None, workdays: int | None, due_on: date | None
) -> Deadline:
    """An obligation's deadline: counted again where it counts workdays, else as stored."""
    if counted_from is not None and workdays is not None:
        return count(calendar, counted_from, workdays)
    return Deadline(due_on)


def on_time(filed_on: date, deadline: Deadline) -> bool | None:
    """None where no deadline applies. A deadline still pending on an unknown year lies
    in that year or later, so a filing made before it began is on time all the same."""
    if deadline.due_on is not None:
        return filed_on <= deadline.due_on
    if deadline.unknown_year is not None and filed_on.year < deadline.unknown_year:
        return True
    return None


def add_months(start: date, n: int) -> date:
    month = start.month - 1 + n
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, months.monthrange(year, month)[1]))


def next_check(status: str, due_on: date | None) -> date | None:
    """The stored next-check time: the first day an open deadline counts as missed."""
    if status != "open" or due_on is None or due_on == date.max:
        return None
    return date.fromordinal(due_on.toordinal() + 1)


# --- what a project owes ---------------------------------------------------------------


def _filing_plan(
    calendar: Workdays, kind: ObligationType, rule: FilingRule, period: str, start: date
) -> Plan:
    if rule.workdays is None:  # owed, with no deadline stated (xiangfen:21)
        return Plan(kind, period, rule.rule, Deadline(None))
    return Plan(
        kind, period, rule.rule, count(calendar, start, rule.workdays), start, rule.workdays
    )


def approval_plans(
    profile: PolicyProfile, planned_completion_on: date | None, budget_years: list[int]
) -> list[Plan]:
    """What an approved project owes from its approval on."""
    rule = profile.trial_run_months.rule if profile.trial_run_months else PLANNED_COMPLETION_RULE
    plans = [Plan("acceptance_application", "", rule, Deadline(planned_completion_on))]
    evaluation = profile.self_evaluation
    if evaluation is not None and evaluation.timing == "after_budget_year":
        # "在年度预算结束后" names no date: owed for each budget year, due date not stated.
        plans += [
            Plan("self_evaluation", str(y), evaluation.rule, Deadline(None)) for y in budget_years
        ]
    if profile.performance_monitoring is not None:  # leshan:45: before each year end
        rule = profile.performance_monitoring.rule
        plans += [
            Plan("performance_monitoring", str(y), rule, Deadline(date(y, 12, 31)))
            for y in budget_years
        ]
    return plans


def filing_plan(
    calendar: Workdays, profile: PolicyProfile, filing_type: str, period: str, event_date: date
) -> Plan | None:
    """The contract or supervisor obligation a filing of that type answers (None where
    the profile has no such filing rule, e.g. leshan's contracts)."""
    if filing_type == "contract" and profile.contract_filing is not None:
        return _filing_plan(
            calendar, "contract_filing", profile.contract_filing, period, event_date
        )
    if filing_type == "supervisor" and profile.supervisor_filing is not None:
        rule = profile.supervisor_filing
        return _filing_plan(calendar, "supervisor_filing", rule, period, event_date)
    return None


def acceptance_report_plan(calendar: Workdays, profile: PolicyProfile, accepted_on: date) -> Plan:
    """N working days after a passed acceptance (30, or 7 under jincheng); leshan reports
    through the platform with no deadline (leshan:31)."""
    return _filing_plan(calendar, "acceptance_report", profile.acceptance_filing, "", accepted_on)


def go_live_plan(profile: PolicyProfile, go_live: date) -> Plan | None:
    """leshan:46: a self-evaluation 12 to 24 months after the system goes live."""
    evaluation = profile.self_evaluation
    if evaluation is None or evaluation.timing != "after_go_live" or not evaluation.window_months:
        return None
    due = add_months(go_live, evaluation.window_months[1])
    return Plan("self_evaluation", "go_live", evaluation.rule, Deadline(due))


# --- what a filing must carry ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptanceFacts:
    delivery: str | None
    document_types: frozenset[str]
    passed: bool
    catalogue_joined: bool
    secure_controllable: bool
    accepted_on: date
    trial_run_started_on: date | None
    handover_filed: bool


def missing_fields(filing_type: str, given: dict[str, object]) -> list[str]:
    return [f for f in REQUIRED_FIELDS.get(filing_type, ()) if given.get(f) is None]


def acceptance_refusals(profile: PolicyProfile, facts: AcceptanceFacts) -> list[Violation]:
    """What the profile asks of an acceptance filing and this one lacks, each cited."""
    delivery = facts.delivery or "self_build"
    found = [
        m.violation()
        for m in profile.acceptance_materials
        if delivery in m.deliveries and m.document not in facts.document_types
    ]
    if facts.passed:  # acceptance content (every profile): catalogue joined, secure products
        found += [c.violation() for c in profile.acceptance_checks if not getattr(facts, c.check)]
    trial = profile.trial_run_months
    if trial is not None:
        started = facts.trial_run_started_on
        too_short = (
            started is None
            or started > facts.accepted_on
            or add_months(started, trial.value) > facts.accepted_on
        )
        if too_short:
            found.append(
                Violation(
                    trial.rule,
                    f"验收前应经 {trial.value} 个月试运行（trial_run_started_on）",
                    f"acceptance follows a {trial.value}-month trial run; give"
                    " trial_run_started_on at least that long before the acceptance",
                )
            )
    handover = profile.source_code_handover
    if handover is not None and not facts.handover_filed:
        found.append(handover.violation())
    return found


def delay_rule(profile: PolicyProfile, current_rule: str) -> str:
    """The rule an agreed acceptance delay moves the acceptance application under."""
    application = profile.acceptance_delay_application
    return application.rule if application is not None else current_rule


def may_record_acceptance(is_authority: bool, is_owner: bool, delivery: str | None) -> bool:
    """The authority records acceptance results; for a purchase-of-services project the
    unit organises its own acceptance (leshan:31)."""
    return is_authority or (is_owner and delivery == "purchase_service")
