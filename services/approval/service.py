"""Approval's use cases: load, ask ``domain``, write, emit.

Every function flushes and never commits: the request's one commit point
(``shared.app.DbSession``) commits the project, its history line and the outbox row
together, or none of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import domain, errors, repository, views
from services.approval.models import Change, Material, Opinion, Project, Review
from services.approval.schemas import (
    ChangeCreate,
    ChangeDecisionCreate,
    DecisionCreate,
    MaterialCreate,
    OpinionCreate,
    ProjectCreate,
    ProjectFilters,
    ReviewCreate,
    TerminateCreate,
)
from shared.auth import Level, Principal, Role, allows, caller_check
from shared.errors import Violation
from shared.ids import new_id
from shared.policy import load_profile

MAX_PAGE = 500
BUDGET_YEARS_AHEAD = 10

# Tokens whose jurisdiction is not their unit's are refused (shared.auth.home); the
# unit directory here is a projection, so "unknown" is remembered briefly only.
# 403 ``token_jurisdiction_mismatch`` when the token's unit lies elsewhere, as this
# service's copy of the unit directory tells it (shared.auth.home).
check_caller = caller_check(repository.unit_jurisdiction, unknown_seconds=5.0)


# --- projects ---------------------------------------------------------------------------


async def create_project(
    session: AsyncSession, principal: Principal, body: ProjectCreate, now: datetime, today: date
) -> Project:
    if not (principal.has_role(Role.UNIT) and str(body.org) == principal.org):
        raise errors.FORBIDDEN.error("a unit applies for its own projects only (org differs)")
    co_orgs = list(dict.fromkeys(body.co_orgs))
    known = await repository.units(session, {body.org, *co_orgs})
    if missing := {body.org, *co_orgs} - set(known):
        raise errors.unit_unknown(missing)
    jurisdiction = known[body.org]["jurisdiction"]
    if body.org in co_orgs or any(known[o]["jurisdiction"] != jurisdiction for o in co_orgs):
        raise errors.CO_ORG_INVALID.error(
            "co-builders are other units of the lead unit's jurisdiction"
        )
    _check_budget_years([b.year for b in body.annual_budgets], today)
    system_ids = list(dict.fromkeys(body.system_ids))
    systems = await repository.systems(session, system_ids)
    foreign = [
        str(s.id)
        for s in systems.values()
        if s.jurisdiction != jurisdiction or s.org not in {body.org, *co_orgs}
    ]
    if foreign:
        raise errors.SYSTEM_NOT_PERMITTED.error(
            "systems of neither the lead unit nor a co-builder", extra={"system_ids": foreign}
        )
    profile = load_profile(jurisdiction)  # the version in force, stamped for good
    project = Project(
        id=new_id(),
        org_id=body.org,
        co_orgs=co_orgs,
        jurisdiction=jurisdiction,
        profile=profile.id,
        profile_version=profile.version,
        name=body.name,
        number=None,
        status="draft",
        delivery=body.delivery,
        kind=body.kind,
        total_investment=body.total_investment,
        annual_budgets=views.budgets_json(body.annual_budgets),
        approved_total=None,
        approved_annual_budgets=[],
        system_ids=system_ids,
        declarations=body.declarations.model_dump(),
        merged_plan_ground=body.merged_plan_ground,
        planned_completion_on=body.planned_completion_on,
        approved_on=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await repository.insert_project(session, project)
    created = {
        "status": {"before": None, "after": "draft"},
        "name": {"before": None, "after": body.name},
    }
    await repository.record(
        session, project.id, now, principal.sub, principal.org, "created", created
    )
    return project


def _check_budget_years(years: Sequence[int], today: date) -> None:
    problems = []
    if len(set(years)) != len(years):
        problems.append("a year appears more than once")
    if any(y < today.year or y > today.year + BUDGET_YEARS_AHEAD for y in years):
        problems.append(f"years run from {today.year} to {today.year + BUDGET_YEARS_AHEAD}")
    if problems:
        raise errors.BUDGETS_INVALID.error("; ".join(problems), extra={"years": list(years)})


async def get_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, *, for_update: bool = False
) -> Project:
    project = await repository.readable_project(
        session, principal, project_id, for_update=for_update
    )
    if project is None:
        raise errors.not_found("project", project_id)
    return project


async def writable_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Project:
    """The project, locked, if the caller is its lead unit (403 for other readers)."""
    project = await get_project(session, principal, project_id, for_update=True)
    if not (
        principal.has_role(Role.UNIT) and allows(principal, project, domain.PROJECTS, Level.WRITE)
    ):
        raise errors.FORBIDDEN.error("only the lead unit writes its project")
    return project


async def project_detail(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> dict[str, Any]:
    project = await get_project(session, principal, project_id)
    profile = load_profile(project.profile, project.profile_version)
    return views.project_detail(
        project,
        await repository.materials(session, project.id),
        await repository.opinions(session, project.id),
        await repository.reviews(session, project.id),
        await repository.changes(session, project.id),
        [o.topic for o in profile.required_opinions],
        await repository.latest_assessment(session, project.org_id),
    )


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    filters: ProjectFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    return await repository.project_page(session, principal, filters, limit, cursor)


async def history(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> list[dict[str, Any]]:
    await get_project(session, principal, project_id)
    return [views.history_out(r) for r in await repository.history(session, project_id)]


# --- materials and submission ---------------------------------------------------------------


async def add_material(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: MaterialCreate,
    now: datetime,
) -> Material:
    project = await writable_project(session, principal, project_id)
    if project.status != "draft":
        raise errors.transition_refused(_not_in("draft", project.status, "take materials"))
    material = Material(id=new_id(), project_id=project.id, created_at=now, **body.model_dump())
    await repository.add(session, material)
    added = {"materials": {"before": None, "after": {"type": body.type, "sha256": body.sha256}}}
    await repository.record(
        session, project.id, now, principal.sub, principal.org, "material_added", added
    )
    return material


def _not_in(expected: str, status: str, what: str) -> Violation:
    return Violation(
        domain.LIFECYCLE,
        f"项目状态为{status}，只有{expected}状态的项目可以{what}",
        f"a project that is {status} cannot {what} (only {expected})",
    )


async def submit(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, now: datetime, today: date
) -> Project:
    project = await writable_project(session, principal, project_id)
    if violation := domain.transition_violation(project.status, "submitted"):
        raise errors.transition_refused(violation)
    profile = load_profile(project.profile, project.profile_version)
    materials = {m.type for m in await repository.materials(session, project.id)}
    violations = domain.prescreen(
        views.application(project, materials),
        profile,
        await repository.systems(session, project.system_ids),
        await repository.sanctions(session, project.org_id),
        upgrades_unaccepted=await repository.upgrades_unaccepted(session, project),
        today=today,
    )
    if violations:
        raise errors.prescreen_failed(violations)
    await _move(session, project, "submitted", principal, now, "govit.approval.project.submitted")
    return project


async def _move(
    session: AsyncSession,
    project: Project,
    to: str,
    principal: Principal,
    now: datetime,
    event_type: str,
    *,
    changes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    rule: str | None = None,
    action: str | None = None,
) -> None:
    before = project.status
    project.status = to
    diff = {"status": {"before": before, "after": to}, **dict(changes or {})}
    await repository.saved(
        session,
        project,
        now,
        actor=principal.sub,
        actor_org=principal.org,
        action=action or to,
        changes=diff,
        event_type=event_type,
        extra=extra,
        rule=rule,
    )


# --- opinions, reviews and the decision --------------------------------------------------


async def _submitted(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, what: str
) -> Project:
    project = await get_project(session, principal, project_id, for_update=True)
    if project.status != "submitted":
        raise errors.transition_refused(_not_in("submitted", project.status, what))
    return project


async def add_opinion(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: OpinionCreate,
    now: datetime,
) -> Opinion:
    project = await _submitted(session, principal, project_id, "take opinions")
    opinion = Opinion(
        id=new_id(), project_id=project.id, actor=principal.sub, created_at=now, **body.model_dump()
    )
    await repository.add(session, opinion)
    added = {"opinions": {"before": None, "after": {"topic": body.topic, "verdict": body.verdict}}}
    await repository.record(
        session, project.id, now, principal.sub, principal.org, "opinion_added", added
    )
    return opinion


async def add_review(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: ReviewCreate,
    now: datetime,
) -> Review:
    project = await _submitted(session, principal, project_id, "be reviewed")
    review = Review(
        id=new_id(), project_id=project.id, actor=principal.sub, created_at=now, **body.model_dump()
    )
    await repository.add(session, review)
    scores = body.model_dump(exclude={"comment"})
    await repository.record(
        session,
        project.id,
        now,
        principal.sub,
        principal.org,
        "reviewed",
        {"review": {"before": None, "after": scores}},
    )
    return review


async def decide(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: DecisionCreate,
    now: datetime,
    today: date,
) -> Project:
    project = await get_project(session, principal, project_id, for_update=True)
    if violation := domain.transition_violation(project.status, body.outcome):
        raise errors.transition_refused(violation)
    profile = load_profile(project.profile, project.profile_version)
    if body.outcome == "rejected":
        await _move(
            session,
            project,
            "rejected",
            principal,
            now,
            "govit.approval.project.rejected",
            extra={"reasons": body.reasons},
            changes={"reasons": {"before": None, "after": body.reasons}},
        )
        return project
    topics = [o.topic for o in await repository.opinions(session, project.id)]
    if missing := domain.missing_opinions(profile, topics):
        present = set(topics)
        raise errors.opinion_missing(
            missing, [r.topic for r in profile.required_opinions if r.topic not in present]
        )
    assert body.approved_total is not None  # DecisionCreate checks it
    approved = [(b.year, b.amount) for b in body.approved_annual_budgets]
    if len({y for y, _ in approved}) != len(approved):
        raise errors.DECISION_INVALID.error("a year appears more than once")
    asked = views.budget_pairs(project.annual_budgets)
    if violations := domain.decision_violations(
        project.total_investment, asked, body.approved_total, approved
    ):
        raise errors.DECISION_INVALID.error(
            "the approved amounts do not fit what was asked", violations=violations
        )
    sequence = await repository.next_number(session, project.jurisdiction, today.year)
    project.number = domain.project_number(project.profile, today.year, sequence)
    project.approved_total = body.approved_total
    project.approved_annual_budgets = views.budgets_json(body.approved_annual_budgets)
    project.approved_on = today
    if body.planned_completion_on is not None:
        project.planned_completion_on = body.planned_completion_on
    changes = {
        "number": {"before": None, "after": project.number},
        "approved_total": {"before": None, "after": views.money(body.approved_total)},
    }
    await _move(
        session,
        project,
        "approved",
        principal,
        now,
        "govit.approval.project.approved",
        changes=changes,
    )
    return project


# --- changes and termination ---------------------------------------------------------------


async def request_change(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: ChangeCreate,
    now: datetime,
) -> Change:
    project = await writable_project(session, principal, project_id)
    if violation := domain.change_status_violation(project.status):
        raise errors.transition_refused(violation)
    profile = load_profile(project.profile, project.profile_version)
    approved_total = project.approved_total or Decimal("0")
    classification, rule = domain.classify_change(
        profile, approved_total, body.new_total, body.adjusted_amount, body.goals_changed
    )
    if refusal := domain.change_refusal(profile, classification, body.already_carried_out):
        raise errors.CHANGE_REFUSED.error(
            "a major change carried out before approval gets no approval afterwards",
            violations=[refusal],
        )
    budgets = None
    if body.annual_budgets is not None:
        pairs = [(b.year, b.amount) for b in body.annual_budgets]
        if len({y for y, _ in pairs}) != len(pairs):
            raise errors.CHANGE_REFUSED.error("a year appears more than once in annual_budgets")
        if added := domain.budget_violations(body.new_total, pairs):
            raise errors.CHANGE_REFUSED.error("the annual budgets do not add up", violations=added)
        budgets = views.budgets_json(body.annual_budgets)
    if classification == "major_change" and body.new_total != approved_total and budgets is None:
        raise errors.CHANGE_REFUSED.error(
            "a major change of the total states the annual budgets after it (annual_budgets)"
        )
    change = Change(
        id=new_id(),
        project_id=project.id,
        classification=classification,
        status="recorded" if classification == "self_adjustment" else "pending",
        new_total=body.new_total,
        adjusted_amount=body.adjusted_amount,
        goals_changed=body.goals_changed,
        content=body.content,
        reason=body.reason,
        annual_budgets=budgets,
        rule=rule,
        actor=principal.sub,
        created_at=now,
    )
    await repository.add(session, change)
    await _changed(session, project, change, principal, now, "change_requested")
    return change


async def _changed(
    session: AsyncSession,
    project: Project,
    change: Change,
    principal: Principal,
    now: datetime,
    action: str,
    changes: Mapping[str, Any] | None = None,
) -> None:
    payload = views.change_payload(change)
    await repository.saved(
        session,
        project,
        now,
        actor=principal.sub,
        actor_org=principal.org,
        action=action,
        changes={"change": {"before": None, "after": payload}, **dict(changes or {})},
        event_type="govit.approval.project.changed",
        extra={"change": payload},
        rule=change.rule,
    )


async def decide_change(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    change_id: uuid.UUID,
    body: ChangeDecisionCreate,
    now: datetime,
) -> Change:
    project = await get_project(session, principal, project_id, for_update=True)
    change = await repository.change(session, project.id, change_id)
    if change is None:
        raise errors.not_found("change", change_id)
    if change.status != "pending":
        raise errors.CHANGE_NOT_PENDING.error(
            f"the change is {change.status}: only a pending major change is decided",
            violations=[_not_in("pending", change.status, "be decided")],
        )
    if body.outcome == "approved" and (violation := domain.change_status_violation(project.status)):
        raise errors.transition_refused(violation)
    change.status = body.outcome
    change.decided_at = now
    change.decided_by = principal.sub
    diff: dict[str, Any] = {}
    if body.outcome == "approved":
        before = views.money(project.approved_total)
        project.approved_total = change.new_total
        if change.annual_budgets is not None:
            project.approved_annual_budgets = change.annual_budgets
        diff["approved_total"] = {"before": before, "after": views.money(change.new_total)}
    await _changed(session, project, change, principal, now, f"change_{body.outcome}", diff)
    return change


async def terminate(
    session: AsyncSession,
    principal: Principal,
    project_id: uuid.UUID,
    body: TerminateCreate,
    now: datetime,
) -> Project:
    project = await get_project(session, principal, project_id, for_update=True)
    if violation := domain.transition_violation(project.status, "terminated"):
        raise errors.transition_refused(violation)
    rule = domain.termination_rule(load_profile(project.profile, project.profile_version))
    await _move(
        session,
        project,
        "terminated",
        principal,
        now,
        "govit.approval.project.terminated",
        extra={"reason": body.reason, "rule": rule},
        rule=rule,
        changes={"reason": {"before": None, "after": body.reason}},
    )
    return project


async def export_rows(
    session: AsyncSession, principal: Principal, year: int
) -> list[tuple[Any, ...]]:
    rows = await repository.approved_in(session, principal, year)
    return [views.export_row(r, r["unit_name"], year) for r in rows]
