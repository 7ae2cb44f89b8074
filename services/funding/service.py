"""The funding use cases: load, ask ``domain``, write, emit. Flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.funding import domain, errors, repository, views
from services.funding.models import publisher
from services.funding.schemas import DisbursementCreate, PlanCreate, ReturnCreate
from shared.auth import Principal
from shared.calendar import WorkdayCalendar
from shared.ids import new_id
from shared.policy import PolicyProfile, load_profile, profile_in_force

ZERO = Decimal("0")


# --- facts and gates ---------------------------------------------------------------------


async def facts_for(session: AsyncSession, project: Any) -> domain.Facts:
    systems = await repository.systems_of(session, project.system_ids)
    records = await repository.records_of(session, project.id)
    return domain.facts_of(
        views.project_state(project),
        [views.system_state(s) for s in systems],
        [views.record_state(r) for r in records],
    )


def profile_of(project: Any) -> PolicyProfile:
    """The rules the project was approved under (its profile at its version)."""
    return load_profile(project.profile, project.profile_version)


async def refresh_gates(
    session: AsyncSession, project_ids: Iterable[uuid.UUID], now: datetime, today: date
) -> None:
    """Decide both gates again; a gate that flips is stored and published."""
    for project_id in sorted(set(project_ids)):
        # One decider per project at a time (two consumers may touch one project): the
        # project's row, locked, so the second reads the gate state the first stored.
        project = await repository.project(session, project_id, for_update=True)
        if project is None:
            continue  # its facts wait in the projection until approval's event comes
        decided = domain.gates(profile_of(project), await facts_for(session, project), today.year)
        stored = await repository.gate_rows(session, project_id)
        for category, gate in decided.items():
            row = stored.get(category)
            violations = [v.as_dict() for v in gate.violations]
            if row is not None and row.open == gate.open and row.violations == violations:
                continue
            version = row.version if row is not None else 0
            if gate.open != (row.open if row is not None else False):
                version += 1
                verb = "opened" if gate.open else "closed"
                await publisher.publish(
                    session,
                    f"govit.funding.gate.{verb}",
                    project_id,
                    views.gate_payload(project, gate, version),
                    now,
                )
            await repository.save_gate(
                session,
                {
                    "project_id": project_id,
                    "category": category,
                    "open": gate.open,
                    "violations": violations,
                    "version": version,
                    "changed_at": now,
                },
            )


async def _readable(session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> Any:
    project = await repository.readable_project(session, principal, project_id)
    if project is None:
        raise errors.not_found("project", project_id)
    return project


# --- the money view -------------------------------------------------------------------------


async def money_view(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, today: date
) -> dict[str, Any]:
    project = await _readable(session, principal, project_id)
    facts = await facts_for(session, project)
    gates = domain.gates(profile_of(project), facts, today.year)
    budgets = views.budgets(project)
    ledger = {row.year: row for row in await repository.ledger_rows(session, project_id)}
    allocated: dict[tuple[int, str], list[Decimal]] = {}
    for a in await repository.allocations(session, [project_id]):
        effective, waiting = allocated.setdefault((a.year, a.category), [ZERO, ZERO])
        if a.effective_on <= today:
            allocated[(a.year, a.category)][0] = effective + a.amount
        else:
            allocated[(a.year, a.category)][1] = waiting + a.amount
    years = sorted(set(budgets) | set(ledger) | {y for y, _ in allocated})
    by_year = []
    for year in years:
        for category in domain.CATEGORIES:
            effective, waiting = allocated.get((year, category), [ZERO, ZERO])
            disbursed = getattr(ledger[year], category) if year in ledger else ZERO
            by_year.append(
                {
                    "year": year,
                    "category": category,
                    "approved": views.money(budgets.get(year, ZERO)),
                    "allocated": views.money(effective),
                    "in_notice": views.money(waiting),
                    "disbursed": views.money(disbursed),
                    "remaining": views.money(effective - disbursed),
                }
            )
    disbursed_total = sum((r.construction + r.operations for r in ledger.values()), ZERO)
    allocated_total = sum((v[0] for v in allocated.values()), ZERO)
    approved = project.approved_total
    return {
        "project_id": str(project.id),
        "profile": project.profile,
        "profile_version": project.profile_version,
        "status": project.status,
        "approved_total": views.money(approved) if approved is not None else None,
        "allocated": views.money(allocated_total),
        "disbursed": views.money(disbursed_total),
        "remaining": views.money(approved - disbursed_total) if approved is not None else None,
        "by_year": by_year,
        "gates": views.gates_out(gates),
        "facts": views.facts_out(facts),
    }


# --- allocation plans ------------------------------------------------------------------------


async def notice_length(
    session: AsyncSession, profile: PolicyProfile, default: int
) -> tuple[int, str]:
    """The public notice's working days under ``profile``, and where the figure comes from."""
    notice = profile.allocation_public_notice
    if notice is None:
        return 0, "none"
    if notice.workdays is not None:
        return notice.workdays, "profile"
    setting = await repository.notice_setting(session, profile.id)
    if setting is not None:
        return domain.notice_workdays(profile, setting.workdays), "administrator"
    return domain.notice_workdays(profile, default), "default"


async def calendar(session: AsyncSession, base: WorkdayCalendar) -> WorkdayCalendar:
    """``base`` plus the years filing's administrators loaded (govit.filing.calendar.loaded)."""
    for row in await repository.calendar_rows(session):
        base.load_year(row.year, row.holidays, row.workdays, row.source)
    return base


async def create_plan(
    session: AsyncSession,
    principal: Principal,
    body: PlanCreate,
    *,
    default_notice: int,
    base_calendar: WorkdayCalendar,
    now: datetime,
    today: date,
) -> dict[str, Any]:
    published_on = body.published_on or today
    profile = profile_in_force(principal.jurisdiction, published_on)
    workdays, _ = await notice_length(session, profile, default_notice)
    cal = await calendar(session, base_calendar)
    effective_on = domain.effective_on(published_on, workdays, cal)
    ids = sorted({i.project_id for i in body.items})
    found = {}
    for project_id in ids:
        project = await repository.readable_project(session, principal, project_id)
        if project is None:
            raise errors.project_unknown(project_id)
        facts = await facts_for(session, project)
        if not facts.holds("approved"):
            raise errors.PROJECT_NOT_APPROVED.error(
                f"project {project_id} is not approved", violations=[domain.NOT_APPROVED]
            )
        budgets = views.budgets(project)
        if body.year not in budgets:
            raise errors.year_outside_budget(project_id, body.year, sorted(budgets))
        found[project_id] = budgets[body.year]
    existing: dict[uuid.UUID, Decimal] = {}
    for a in await repository.allocations(session, ids, body.year):
        existing[a.project_id] = existing.get(a.project_id, ZERO) + a.amount
    violations = []
    for project_id, budget in found.items():
        adding = sum((i.amount for i in body.items if i.project_id == project_id), ZERO)
        violations += domain.allocation_violations(
            body.year, existing.get(project_id, ZERO), adding, budget
        )
    if violations:
        raise errors.ALLOCATION_EXCEEDS_BUDGET.error(
            "the plan allocates more than an approved annual budget", violations=violations
        )
    plan = {
        "id": new_id(),
        "jurisdiction": principal.jurisdiction,
        "year": body.year,
        "published_on": published_on,
        "effective_on": effective_on,
        "notice_workdays": workdays,
        "created_by": principal.sub,
        "created_at": now,
    }
    items = [
        {
            "id": new_id(),
            "plan_id": plan["id"],
            "project_id": i.project_id,
            "category": i.category,
            "year": body.year,
            "amount": i.amount,
            "effective_on": effective_on,
        }
        for i in body.items
    ]
    await repository.insert_plan(session, plan, items)
    return views.plan_out(plan, items, today)


# --- disbursements and returns ----------------------------------------------------------------


def _position(
    rows: Sequence[Any],
    allocations: Sequence[Any],
    project: Any,
    year: int,
    category: str,
    budget: Decimal,
    today: date,
) -> domain.Position:
    row = next(r for r in rows if r.year == year)
    mine = [a for a in allocations if a.category == category and a.year == year]
    return domain.Position(
        effective_allocation=sum((a.amount for a in mine if a.effective_on <= today), ZERO),
        in_notice=sum((a.amount for a in mine if a.effective_on > today), ZERO),
        disbursed_category_year=getattr(row, category),
        budget_year=budget,
        disbursed_year=row.construction + row.operations,
        approved_total=project.approved_total or ZERO,
        disbursed_total=sum((r.construction + r.operations for r in rows), ZERO),
    )


async def disburse(
    session: AsyncSession,
    principal: Principal,
    body: DisbursementCreate,
    now: datetime,
    today: date,
) -> dict[str, Any]:
    project = await _readable(session, principal, body.project_id)
    budgets = views.budgets(project)
    facts = await facts_for(session, project)
    if facts.holds("approved") and body.year not in budgets:
        raise errors.year_outside_budget(project.id, body.year, sorted(budgets))
    budget = budgets.get(body.year, ZERO)
    # The lock: every movement of this project waits here for the one before it.
    rows = await repository.lock_ledgers(session, project.id, body.year, budget)
    gate = domain.gate(profile_of(project), body.category, facts, body.year)
    violations = list(gate.violations)
    if facts.holds("approved"):
        allocations = await repository.allocations(session, [project.id], body.year)
        at = _position(rows, allocations, project, body.year, body.category, budget, today)
        violations += domain.disbursement_violations(body.amount, at)
    if violations:
        raise errors.disbursement_refused(violations)
    entry = _entry(
        project, principal, "disbursement", body.category, body.year, body.amount, None, now
    )
    await repository.move(session, project.id, body.year, body.category, body.amount, budget, entry)
    total = sum((r.construction + r.operations for r in rows), ZERO) + body.amount
    await publisher.publish(
        session,
        "govit.funding.disbursement.made",
        entry["id"],
        views.disbursement_payload(entry, total),
        now,
    )
    return {**views.movement_out(_Row(entry)), "disbursed_total": views.money(total)}


async def return_surplus(
    session: AsyncSession, principal: Principal, body: ReturnCreate, now: datetime
) -> dict[str, Any]:
    """A surplus returned after completion (leshan:36): a negative ledger movement."""
    project = await _readable(session, principal, body.project_id)
    budgets = views.budgets(project)
    rows = list(await repository.ledger_rows(session, project.id))
    year = body.year
    if year is None:
        candidates = [r.year for r in rows if getattr(r, body.category) >= body.amount]
        year = max(candidates) if candidates else max([r.year for r in rows] or [now.year])
    budget = budgets.get(year, ZERO)
    rows = list(await repository.lock_ledgers(session, project.id, year, budget))
    row = next(r for r in rows if r.year == year)
    if violations := domain.return_violations(body.amount, getattr(row, body.category)):
        raise errors.RETURN_REFUSED.error("the return is refused", violations=violations)
    entry = _entry(
        project, principal, "return", body.category, year, -body.amount, body.reason, now
    )
    # The ceiling stays what it was: a return only lowers what was disbursed.
    await repository.move(
        session, project.id, year, body.category, -body.amount, row.ceiling, entry
    )
    total = sum((r.construction + r.operations for r in rows), ZERO) - body.amount
    await publisher.publish(
        session,
        "govit.funding.surplus.returned",
        entry["id"],
        views.return_payload(entry, total),
        now,
    )
    return {**views.movement_out(_Row(entry)), "disbursed_total": views.money(total)}


def _entry(
    project: Any,
    principal: Principal,
    kind: str,
    category: str,
    year: int,
    amount: Decimal,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "project_id": project.id,
        "org": project.org,
        "co_orgs": list(project.co_orgs),
        "jurisdiction": project.jurisdiction,
        "kind": kind,
        "category": category,
        "year": year,
        "amount": amount,
        "reason": reason,
        "created_by": principal.sub,
        "created_at": now,
    }


class _Row:
    """A dict read like a row (views take rows)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def list_movements(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    rows, next_cursor = await repository.movement_page(
        session, principal, project_id, limit, cursor
    )
    return {"items": [views.movement_out(r) for r in rows], "next_cursor": next_cursor}


# --- what-if -------------------------------------------------------------------------------


async def what_if(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    scenario: domain.Scenario,
    base_calendar: WorkdayCalendar,
    today: date,
) -> dict[str, Any]:
    """The gates as they would be with the scenario's filings; nothing is stored."""
    project = await _readable(session, principal, project_id)
    profile = profile_of(project)
    facts = await facts_for(session, project)
    on = scenario.acceptance_filed_on or scenario.contract_filed_on or scenario.supervisor_filed_on
    year = (on or today).year
    before = domain.gates(profile, facts, year)
    after = domain.gates(profile, domain.suppose(facts, scenario), year)
    cal = await calendar(session, base_calendar)
    blocking = domain._unique(v for gate in after.values() for v in gate.violations)
    return {
        "project_id": str(project.id),
        "year": year,
        "gates": views.gates_out(after),
        "opens": [c for c in domain.CATEGORIES if after[c].open and not before[c].open],
        "deadlines": [d.as_dict() for d in domain.deadlines(profile, scenario, cal)],
        "still_blocking": [v.as_dict() for v in blocking],
    }


# --- the public-notice setting -------------------------------------------------------------


async def notice_setting(
    session: AsyncSession, principal: Principal, profile_id: str, default: int
) -> dict[str, Any]:
    if profile_id != principal.jurisdiction:
        raise errors.not_found("profile", profile_id)
    profile = load_profile(profile_id)
    workdays, source = await notice_length(session, profile, default)
    notice = profile.allocation_public_notice
    return {
        "profile": profile_id,
        "workdays": workdays,
        "source": source,
        "rule": notice.rule if notice is not None else None,
        "note": NOTICE_NOTE if notice is not None and notice.workdays is None else "",
    }


NOTICE_NOTE = (
    "The regulation requires a public notice of the allocation plan but names no length;"
    " the figure is this service's setting (GOVIT_PUBLIC_NOTICE_WORKDAYS, default 5"
    " working days), which an administrator may change. See docs/funding.md."
)


async def set_notice_setting(
    session: AsyncSession,
    principal: Principal,
    profile_id: str,
    workdays: int,
    now: datetime,
    default: int,
) -> dict[str, Any]:
    if profile_id != principal.jurisdiction:
        raise errors.PROFILE_MISMATCH.error(
            f"an administrator of {principal.jurisdiction} cannot set {profile_id}'s notice"
        )
    await repository.save_notice_setting(
        session,
        {
            "profile": profile_id,
            "workdays": workdays,
            "changed_by": principal.sub,
            "changed_at": now,
        },
    )
    return await notice_setting(session, principal, profile_id, default)
