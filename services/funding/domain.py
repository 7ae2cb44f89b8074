"""The funding rules, pure: facts → gates, and the money checks of a disbursement.

Nothing here reads a clock, a database or a setting. The gates are decided from the
project's policy profile (at the version it was approved under) and the facts the
service projected from other services' events; every refusal is a ``Violation``
citing the article (``jincheng:21``) or, where no article governs, a ``funding:``
rule id (docs/funding.md lists them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, get_args

from shared.errors import Violation
from shared.policy import PolicyProfile
from shared.policy.rules import Fact, FundCategory

CATEGORIES: tuple[FundCategory, ...] = get_args(FundCategory)
GATE_FACTS: tuple[str, ...] = get_args(Fact)
# Facts about the project itself, beside the ones a profile's gates name.
PROJECT_FACTS = ("approved", "accepted", "suspended", "terminated", "rectification_escalated")
FACT_NAMES: tuple[str, ...] = (*PROJECT_FACTS, *GATE_FACTS)

APPROVED_STATUSES = frozenset(
    {"approved", "in_construction", "accepted", "in_operation", "suspended"}
)
ACCEPTED_STATUSES = frozenset({"accepted", "in_operation"})

# Rules no article governs (docs/funding.md): the service's own, cited as funding:<rule>.
NOT_APPROVED = Violation(
    "funding:project-approved",
    "项目未经批复，不得安排资金",
    "The project has not been approved; no funds may be arranged.",
)
ALLOCATION_EXCEEDED = "funding:effective-allocation"
BUDGET_EXCEEDED = "funding:annual-budget"
TOTAL_EXCEEDED = "funding:approved-total"
RETURN_EXCEEDED = "funding:return-within-disbursed"
ALLOCATION_OVER_BUDGET = "funding:allocation-within-budget"


# --- facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The event that set a fact."""

    type: str
    id: str
    time: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "time": self.time}


@dataclass(frozen=True)
class FactValue:
    value: bool
    source: Source | None = None
    since: date | None = None  # the day the event set it (Asia/Shanghai), for yearly rules
    rule: str | None = None  # a citation the fact carries (an escalated order's rule)


UNKNOWN = FactValue(False)


@dataclass(frozen=True)
class Facts:
    """Every fact the gates read, by name (``FACT_NAMES``); a missing one is false."""

    values: Mapping[str, FactValue] = field(default_factory=dict)

    def __getitem__(self, name: str) -> FactValue:
        return self.values.get(name, UNKNOWN)

    def holds(self, name: str) -> bool:
        return self[name].value

    def with_(self, **changes: FactValue) -> Facts:
        unknown = set(changes) - set(FACT_NAMES)
        if unknown:
            raise ValueError(f"unknown facts: {sorted(unknown)}")
        return replace(self, values={**self.values, **changes})

    @classmethod
    def of(cls, **values: bool) -> Facts:
        """Plain truth values (tests, what-if): ``Facts.of(approved=True, ...)``."""
        return cls({}).with_(**{k: FactValue(v) for k, v in values.items()})


# What the projection holds, as plain records (the repository builds them from rows).


@dataclass(frozen=True)
class ProjectState:
    status: str
    approved_total: Decimal | None
    system_ids: Sequence[str]
    source: Source
    since: date | None = None


@dataclass(frozen=True)
class SystemState:
    id: str
    catalogued: bool
    data_shared: bool
    on_cloud: bool
    secure: bool
    source: Source
    since: date | None = None


@dataclass(frozen=True)
class Record:
    """A filing, an acceptance result, a rectification order or an evaluation."""

    kind: Literal["filing", "acceptance", "rectification", "evaluation"]
    type: str  # the filing type, or the order's status, or the evaluation's kind
    source: Source
    passed: bool | None = None
    rule: str | None = None
    since: date | None = None


_SYSTEM_FACTS = {
    "systems_catalogued": "catalogued",
    "data_shared": "data_shared",
    "cloud_migrated": "on_cloud",
    "security_compliant": "secure",
}
_FILING_FACTS = {
    "contract": "contract_filed",
    "supervisor": "supervisor_filed",
    "acceptance": "acceptance_filed",
}


def facts_of(
    project: ProjectState | None, systems: Iterable[SystemState], records: Iterable[Record]
) -> Facts:
    """The facts of one project from what its events said (each with its event)."""
    values: dict[str, FactValue] = {}
    if project is not None:
        p = project
        approved = p.status in APPROVED_STATUSES and p.approved_total is not None
        values["approved"] = FactValue(approved, p.source, p.since)
        values["suspended"] = FactValue(p.status == "suspended", p.source, p.since)
        values["terminated"] = FactValue(p.status == "terminated", p.source, p.since)
        if p.status in ACCEPTED_STATUSES:
            values["accepted"] = FactValue(True, p.source, p.since)
        known = {s.id: s for s in systems}
        for fact, attribute in _SYSTEM_FACTS.items():
            values[fact] = _all_systems(p, known, attribute)
    # Sorted by event time, so the latest acceptance filing or result decides "passed".
    for record in sorted(records, key=lambda r: (r.source.time is not None, r.source.time)):
        at = FactValue(True, record.source, record.since)
        if record.kind == "filing" and record.type in _FILING_FACTS:
            values[_FILING_FACTS[record.type]] = at
        if record.kind == "acceptance" or (record.kind == "filing" and record.type == "acceptance"):
            values["accepted"] = values.get("accepted") or at
            if record.passed is not None:
                values["acceptance_passed"] = replace(at, value=record.passed)
        elif record.kind == "rectification" and record.type == "escalated":
            values["rectification_escalated"] = replace(at, rule=record.rule)
        elif record.kind == "evaluation":
            values["evaluation_result_filed"] = at
    return Facts(values)


def _all_systems(
    project: ProjectState, known: Mapping[str, SystemState], attribute: str
) -> FactValue:
    """True when every system of the project says so; the event is the first failing
    system's (or, when all hold, the latest one's)."""
    ids = list(project.system_ids)
    if not ids:  # nothing to catalogue: the project's own event stands for it
        return FactValue(True, project.source, project.since)
    for system_id in ids:
        system = known.get(system_id)
        if system is None:
            return FactValue(False, project.source, project.since)
        if not getattr(system, attribute):
            return FactValue(False, system.source, system.since)
    latest = max((known[i] for i in ids), key=lambda s: (s.source.time is not None, s.source.time))
    return FactValue(True, latest.source, latest.since)


# --- gates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    category: FundCategory
    open: bool
    violations: tuple[Violation, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"open": self.open, "violations": [v.as_dict() for v in self.violations]}


def gate(profile: PolicyProfile, category: FundCategory, facts: Facts, year: int) -> Gate:
    """May money of ``category`` for budget ``year`` flow? Every reason it may not."""
    violations: list[Violation] = []
    if not facts.holds("approved"):
        violations.append(NOT_APPROVED)
    stop_rule = profile.rectification.rule
    if facts.holds("terminated"):
        violations.append(
            Violation(
                stop_rule,
                "项目已终止，停止拨付资金",
                "The project is terminated; funds are stopped.",
            )
        )
    if facts.holds("suspended"):
        violations.append(
            Violation(
                stop_rule,
                "项目已暂停，暂停拨付资金",
                "The project is suspended; funds are suspended.",
            )
        )
    if facts.holds("rectification_escalated"):
        violations.append(
            Violation(
                facts["rectification_escalated"].rule or stop_rule,
                "整改逾期未完成，暂停拨付资金",
                "A rectification order was escalated; the project's funds are suspended.",
            )
        )
    for item in profile.gates(category):
        fact = facts[item.fact]
        if fact.value:
            continue
        if item.timing == "after_acceptance" and not facts.holds("accepted"):
            continue  # only money released after acceptance is gated by this item
        if item.timing == "next_budget_year" and fact.since is not None and fact.since.year >= year:
            continue  # this year's failure closes next year's money, not this year's
        violations.append(item.violation())
    return Gate(category, not violations, tuple(_unique(violations)))


def gates(profile: PolicyProfile, facts: Facts, year: int) -> dict[FundCategory, Gate]:
    return {c: gate(profile, c, facts, year) for c in CATEGORIES}


def _unique(violations: Iterable[Violation]) -> list[Violation]:
    seen: set[Violation] = set()
    return [v for v in violations if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


# --- money -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a project's money stands for one category and budget year."""

    effective_allocation: Decimal  # allocations past their public notice
    in_notice: Decimal  # allocations still in their public notice
    disbursed_category_year: Decimal
    budget_year: Decimal  # the approved annual budget of the year
    disbursed_year: Decimal  # both categories
    approved_total: Decimal
    disbursed_total: Decimal  # every year, both categories


def disbursement_violations(amount: Decimal, at: Position) -> list[Violation]:
    """Every money rule the disbursement would break (empty: it may go)."""
    found: list[Violation] = []
    if at.disbursed_category_year + amount > at.effective_allocation:
        waiting = f"（另有{at.in_notice:.2f}元尚在公示期）" if at.in_notice else ""
        waiting_en = f" ({at.in_notice:.2f} more is still in public notice)" if at.in_notice else ""
        found.append(
            Violation(
                ALLOCATION_EXCEEDED,
                f"拨付将超出已生效的资金分配计划{at.effective_allocation:.2f}元（已拨付"
                f"{at.disbursed_category_year:.2f}元）{waiting}",
                f"The disbursement would exceed the effective allocation of "
                f"{at.effective_allocation:.2f} ({at.disbursed_category_year:.2f} disbursed)"
                f"{waiting_en}.",
            )
        )
    if at.disbursed_year + amount > at.budget_year:
        found.append(
            Violation(
                BUDGET_EXCEEDED,
                f"拨付将超出批复的年度预算{at.budget_year:.2f}元（已拨付{at.disbursed_year:.2f}元）",
                f"The disbursement would exceed the approved annual budget of {at.budget_year:.2f}"
                f" ({at.disbursed_year:.2f} disbursed).",
            )
        )
    if at.disbursed_total + amount > at.approved_total:
        found.append(
            Violation(
                TOTAL_EXCEEDED,
                f"拨付将超出批复总投资{at.approved_total:.2f}元（已拨付{at.disbursed_total:.2f}元）",
                f"The disbursement would exceed the approved total of {at.approved_total:.2f}"
                f" ({at.disbursed_total:.2f} disbursed).",
            )
        )
    return found


def return_violations(amount: Decimal, disbursed_category_year: Decimal) -> list[Violation]:
    if amount <= disbursed_category_year:
        return []
    return [
        Violation(
            RETURN_EXCEEDED,
            f"退回金额超过该年度该类资金已拨付金额{disbursed_category_year:.2f}元",
            f"The return exceeds what was disbursed for that category and year"
            f" ({disbursed_category_year:.2f}).",
        )
    ]


def allocation_violations(
    year: int, allocated_year: Decimal, adding: Decimal, budget_year: Decimal
) -> list[Violation]:
    """An allocation plan commits money: never more than the year's approved budget."""
    if allocated_year + adding <= budget_year:
        return []
    return [
        Violation(
            ALLOCATION_OVER_BUDGET,
            f"{year}年度分配金额将超出批复的年度预算{budget_year:.2f}元（已分配{allocated_year:.2f}元）",
            f"Allocations for {year} would exceed the approved annual budget of {budget_year:.2f}"
            f" ({allocated_year:.2f} already allocated).",
        )
    ]


# --- public notice and what-if -------------------------------------------------------------


class Workdays(Protocol):
    def add_workdays(self, start: date, days: int) -> date: ...


def notice_workdays(profile: PolicyProfile, configured: int) -> int:
    """Working days an allocation plan stays in public notice under ``profile``: none
    where the profile requires no notice, the profile's figure where it names one, else
    the configured length (xiangfen:14 and jincheng:11 name no length)."""
    notice = profile.allocation_public_notice
    if notice is None:
        return 0
    return notice.workdays if notice.workdays is not None else configured


def effective_on(published_on: date, workdays: int, calendar: Workdays) -> date:
    return calendar.add_workdays(published_on, workdays) if workdays else published_on


@dataclass(frozen=True)
class Deadline:
    type: str
    rule: str
    counted_from: date
    due_on: date | None
    opens_on: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "rule": self.rule,
            "counted_from": self.counted_from,
            "opens_on": self.opens_on,
            "due_on": self.due_on,
        }


@dataclass(frozen=True)
class Scenario:
    """The filings a what-if question supposes (None: as the projection says)."""

    acceptance_filed_on: date | None = None
    passed: bool = True
    accepted_on: date | None = None
    contract_filed_on: date | None = None
    supervisor_filed_on: date | None = None


def suppose(facts: Facts, scenario: Scenario) -> Facts:
    """The facts as they would be with the scenario's filings."""
    changes: dict[str, FactValue] = {}
    if scenario.contract_filed_on:
        changes["contract_filed"] = FactValue(True, since=scenario.contract_filed_on)
    if scenario.supervisor_filed_on:
        changes["supervisor_filed"] = FactValue(True, since=scenario.supervisor_filed_on)
    if scenario.acceptance_filed_on:
        on = scenario.acceptance_filed_on
        changes["acceptance_filed"] = FactValue(True, since=on)
        changes["acceptance_passed"] = FactValue(scenario.passed, since=on)
        changes["accepted"] = FactValue(True, since=on)
    return facts.with_(**changes)


def deadlines(profile: PolicyProfile, scenario: Scenario, calendar: Workdays) -> list[Deadline]:
    """The deadlines the scenario's filings would start (or, for the acceptance report,
    the one it would have to meet)."""
    found: list[Deadline] = []
    filing = profile.acceptance_filing
    if scenario.accepted_on is not None:
        due = (
            calendar.add_workdays(scenario.accepted_on, filing.workdays)
            if filing.workdays is not None
            else None
        )
        found.append(Deadline("acceptance_report", filing.rule, scenario.accepted_on, due))
    on = scenario.acceptance_filed_on
    rule = profile.self_evaluation
    if on is not None and scenario.passed and rule is not None:
        if rule.timing == "after_go_live" and rule.window_months is not None:
            first, last = rule.window_months
            found.append(
                Deadline(
                    "self_evaluation", rule.rule, on, _add_months(on, last), _add_months(on, first)
                )
            )
        else:  # after each budget year: the first one is the year the project goes live
            found.append(Deadline("self_evaluation", rule.rule, on, None, date(on.year + 1, 1, 1)))
    return found


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover
