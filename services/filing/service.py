"""The filing service's use cases: load, ask ``domain``, write, emit.

Every function flushes and never commits: the request's one commit point commits the
filing, the obligations it met or opened, and their events together, or none.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.filing import domain, errors, repository, views
from services.filing.models import Acceptance, CalendarYear, Filing, Obligation, Project, publisher
from services.filing.schemas import AcceptanceCreate, CalendarLoad, FilingCreate, ReviewCreate
from shared.auth import Principal, Role, caller_check
from shared.calendar import LIBRARY_YEARS, CalendarYearUnknown, WorkdayCalendar, YearSchedule
from shared.clock import Clock
from shared.ids import new_id
from shared.policy import load_profile

MAX_PAGE = 500
MIN_YEAR, MAX_YEAR = 1900, 2200
# 403 ``token_jurisdiction_mismatch`` when the token's unit lies elsewhere, as the
# projects of that unit tell it (a unit with no project yet is let through).
check_caller = caller_check(repository.unit_jurisdiction)


async def calendar_now(session: AsyncSession, live: domain.LiveCalendar) -> WorkdayCalendar:
    """The calendar with every year the database holds (another replica may have loaded one)."""
    return live.apply(await repository.calendar_rows(session))


# --- filings --------------------------------------------------------------------------


async def _filing_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Project:
    # Locked: filings, acceptances and reviews of one project are applied one at a time.
    project = await repository.readable_project(session, principal, project_id, for_update=True)
    if project is None:  # unknown, or not the caller's to see: the same answer
        raise errors.project_unknown(project_id)
    if not (Role.ADMIN in principal.roles or str(project.org) == principal.org):
        raise errors.FORBIDDEN.error("only the project's lead unit files for it")
    if project.status not in domain.FILABLE_STATUSES:
        raise errors.PROJECT_NOT_APPROVED.error(f"the project is {project.status}")
    return project


def _check_dates(event_date: date, filed_on: date, today: date) -> None:
    if event_date > today:
        raise errors.EVENT_DATE_IN_FUTURE.error(f"event_date {event_date} is after today {today}")
    if filed_on > today:
        raise errors.FILED_ON_IN_FUTURE.error(f"filed_on {filed_on} is after today {today}")
    if filed_on < event_date:
        raise errors.FILED_BEFORE_EVENT.error(
            f"filed_on {filed_on} is before event_date {event_date}"
        )


async def file(
    session: AsyncSession,
    principal: Principal,
    body: FilingCreate,
    live: domain.LiveCalendar,
    clock: Clock,
) -> Filing:
    today, now = clock.today(), clock.now()
    filed_on = body.filed_on or today
    _check_dates(body.event_date, filed_on, today)
    project = await _filing_project(session, principal, body.project_id)
    given = body.model_dump(mode="json")
    if missing := domain.missing_fields(body.type, given):
        raise errors.fields_missing(body.type, missing)
    profile = load_profile(project.profile, project.profile_version)
    calendar = await calendar_now(session, live)
    if body.type == "acceptance":
        facts = domain.AcceptanceFacts(
            delivery=project.delivery,
            document_types=frozenset(d.type for d in body.documents),
            passed=bool(body.passed),
            catalogue_joined=bool(body.catalogue_joined),
            secure_controllable=bool(body.secure_controllable),
            accepted_on=body.event_date,
            trial_run_started_on=body.trial_run_started_on,
            handover_filed=await repository.handover_filed(session, project.id),
        )
        if refusals := domain.acceptance_refusals(profile, facts):
            raise errors.filing_refused(refusals)
    filing = _new_filing(project, principal, body, filed_on, given, now)
    session.add(filing)
    await session.flush()
    met = await _obligation_met(session, principal, project, filing, profile, calendar, now)
    if met is not None:
        obligation, deadline = met
        filing.obligation_id = obligation.id
        filing.due_on = deadline.due_on
        filing.on_time = domain.on_time(filed_on, deadline)
        _meet(obligation, filing.id, now)
    await session.flush()
    data = views.filing_payload(filing)
    await publisher.publish(session, f"govit.filing.{filing.type}.filed", filing.id, data, now)
    return filing


_DETAILS = ("period", "percent_complete", "spent_to_date", "issues", "requested_until", "reason")


def _new_filing(
    project: Project,
    principal: Principal,
    body: FilingCreate,
    filed_on: date,
    given: dict[str, Any],
    now: datetime,
) -> Filing:
    acceptance = body.type == "acceptance"
    return Filing(
        id=new_id(),
        project_id=project.id,
        org=project.org,
        jurisdiction=project.jurisdiction,
        type=body.type,
        event_date=body.event_date,
        filed_on=filed_on,
        due_on=None,
        on_time=None,
        obligation_id=None,
        documents=given["documents"],
        passed=body.passed if acceptance else None,
        trial_run_started_on=body.trial_run_started_on if acceptance else None,
        catalogue_joined=body.catalogue_joined if acceptance else None,
        secure_controllable=body.secure_controllable if acceptance else None,
        details={k: given[k] for k in _DETAILS if given.get(k) is not None},
        review=None,
        version=1,
        filed_by=principal.sub,
        created_at=now,
    )


def _meet(obligation: Obligation, by: uuid.UUID, now: datetime) -> None:
    """Met by a filing: a late filing meets a missed obligation too (on_time false)."""
    obligation.status = "met"
    obligation.met_by = by
    obligation.next_check_on = None
    obligation.version += 1
    obligation.updated_at = now


async def _obligation_met(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    filing: Filing,
    profile: Any,
    calendar: WorkdayCalendar,
    now: datetime,
) -> tuple[Obligation, domain.Deadline] | None:
    """The obligation this filing meets, with its deadline as the calendar has it now."""
    if filing.type in ("contract", "supervisor"):
        # Each contract (supervisor engagement) is its own obligation, owed from its date.
        plan = domain.filing_plan(calendar, profile, filing.type, str(filing.id), filing.event_date)
        if plan is None:  # the profile has no such filing rule (leshan's contracts)
            return None
        [opened] = await repository.open_plans(session, project, [plan], now)
        return opened, plan.deadline
    if filing.type == "acceptance":
        await _acceptance_of_filing(session, principal, project, filing, profile, calendar, now)
        if not filing.passed:
            return None
    if filing.type not in domain.MEETS:
        return None  # progress, acceptance_delay, handover: recorded, no deadline
    period = filing.details.get("period")
    period = None if period is None else str(period)[:4]
    obligation = await repository.first_unmet(
        session, project.id, domain.MEETS[filing.type], period
    )
    if obligation is None:
        return None
    deadline = domain.deadline_of(
        calendar, obligation.counted_from, obligation.workdays, obligation.due_on
    )
    return obligation, deadline


async def _acceptance_of_filing(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    filing: Filing,
    profile: Any,
    calendar: WorkdayCalendar,
    now: datetime,
) -> None:
    """A unit that files the acceptance report without a recorded result records both at
    once; a passed acceptance also starts leshan's go-live self-evaluation (leshan:46)."""
    recorded = await repository.acceptances(session, project.id)
    same = [a for a in recorded if a.passed == filing.passed]
    if (filing.passed and not same) or (not filing.passed and not recorded):
        acceptance = Acceptance(
            id=new_id(),
            project_id=project.id,
            org=project.org,
            jurisdiction=project.jurisdiction,
            accepted_on=filing.event_date,
            passed=bool(filing.passed),
            opinion=None,
            filing_id=filing.id,
            recorded_by=principal.sub,
            version=1,
            created_at=now,
        )
        await _record(session, project, acceptance, profile, calendar, now)
    if filing.passed:
        go_live = filing.trial_run_started_on or filing.event_date
        if plan := domain.go_live_plan(profile, go_live):
            await repository.open_plans(session, project, [plan], now)


async def _record(
    session: AsyncSession,
    project: Project,
    acceptance: Acceptance,
    profile: Any,
    calendar: WorkdayCalendar,
    now: datetime,
) -> Obligation | None:
    """Store an acceptance result; a passed one opens the acceptance-report obligation
    and meets the acceptance application."""
    session.add(acceptance)
    await session.flush()
    data = views.acceptance_payload(acceptance)
    await publisher.publish(session, "govit.filing.acceptance.recorded", acceptance.id, data, now)
    if not acceptance.passed:
        return None
    plan = domain.acceptance_report_plan(calendar, profile, acceptance.accepted_on)
    [report] = await repository.open_plans(session, project, [plan], now)
    application = await repository.obligation(
        session, project.id, "acceptance_application", for_update=True
    )
    if application is not None and application.status in domain.UNMET_STATUSES:
        _meet(application, acceptance.id, now)
    return report


async def record_acceptance(
    session: AsyncSession,
    principal: Principal,
    body: AcceptanceCreate,
    live: domain.LiveCalendar,
    clock: Clock,
) -> tuple[Acceptance, Obligation | None]:
    today, now = clock.today(), clock.now()
    if body.accepted_on > today:
        raise errors.EVENT_DATE_IN_FUTURE.error(f"accepted_on {body.accepted_on} is after today")
    project = await repository.readable_project(
        session, principal, body.project_id, for_update=True
    )
    if project is None:
        raise errors.project_unknown(body.project_id)
    owner = Role.UNIT in principal.roles and str(project.org) == principal.org
    if not domain.may_record_acceptance(Role.AUTHORITY in principal.roles, owner, project.delivery):
        raise errors.FORBIDDEN.error(
            "the authority records acceptance results (a unit only for its own"
            " purchase-of-services project, leshan:31)"
        )
    if project.status not in domain.FILABLE_STATUSES:
        raise errors.PROJECT_NOT_APPROVED.error(f"the project is {project.status}")
    if body.passed and any(a.passed for a in await repository.acceptances(session, project.id)):
        raise errors.ACCEPTANCE_ALREADY_RECORDED.error("the project has passed acceptance")
    profile = load_profile(project.profile, project.profile_version)
    calendar = await calendar_now(session, live)
    acceptance = Acceptance(
        id=new_id(),
        project_id=project.id,
        org=project.org,
        jurisdiction=project.jurisdiction,
        accepted_on=body.accepted_on,
        passed=body.passed,
        opinion=body.opinion,
        filing_id=None,
        recorded_by=principal.sub,
        version=1,
        created_at=now,
    )
    report = await _record(session, project, acceptance, profile, calendar, now)
    return acceptance, report


async def review(
    session: AsyncSession,
    principal: Principal,
    filing_id: uuid.UUID,
    body: ReviewCreate,
    clock: Clock,
) -> tuple[Filing, Obligation | None]:
    """The authority's verdict on an acceptance delay: agreed moves the acceptance
    application to ``requested_until`` (leshan:31)."""
    now = clock.now()
    filing = await repository.readable_filing(session, principal, filing_id, for_update=True)
    if filing is None:
        raise errors.not_found("filing", filing_id)
    if filing.type != "acceptance_delay":
        raise errors.REVIEW_NOT_APPLICABLE.error(f"a {filing.type} filing is not reviewed")
    if filing.review is not None:
        raise errors.FILING_ALREADY_REVIEWED.error(f"verdict: {filing.review['verdict']}")
    filing.review = {
        "verdict": body.verdict,
        "comment": body.comment,
        "reviewed_on": clock.today().isoformat(),
        "reviewed_by": principal.sub,
    }
    filing.version += 1
    if body.verdict != "agreed":
        return filing, None
    obligation = await repository.obligation(
        session, filing.project_id, "acceptance_application", for_update=True
    )
    if obligation is None or obligation.status not in domain.UNMET_STATUSES:
        return filing, obligation
    project = await repository.project(session, filing.project_id)
    assert project is not None  # a filing's project stays
    profile = load_profile(project.profile, project.profile_version)
    until = date.fromisoformat(filing.details["requested_until"])
    rule = domain.delay_rule(profile, obligation.rule)
    await repository.moved(session, obligation, until, rule, now)
    return filing, obligation


async def get_filing(session: AsyncSession, principal: Principal, filing_id: uuid.UUID) -> Filing:
    filing = await repository.readable_filing(session, principal, filing_id)
    if filing is None:
        raise errors.not_found("filing", filing_id)
    return filing


# --- the calendar -------------------------------------------------------------------


async def workdays(
    session: AsyncSession, live: domain.LiveCalendar, start: date, days: int
) -> date:
    if not MIN_YEAR <= start.year <= MAX_YEAR:  # no schedule there, and no overflow
        raise CalendarYearUnknown(start.year)
    return (await calendar_now(session, live)).add_workdays(start, days)


async def calendar_year(
    session: AsyncSession, live: domain.LiveCalendar, year: int
) -> dict[str, Any]:
    calendar = await calendar_now(session, live)
    source = calendar.source_of(year)
    if source is None:
        raise errors.not_found("calendar year", year)
    holidays, adjusted = calendar.days_of(year)
    loaded = calendar.loaded(year)
    return views.calendar_out(year, source, loaded.source if loaded else None, holidays, adjusted)


async def load_year(
    session: AsyncSession,
    principal: Principal,
    year: int,
    body: CalendarLoad,
    live: domain.LiveCalendar,
    clock: Clock,
) -> tuple[CalendarYear, list[dict[str, Any]]]:
    """Store a year's official schedule, recompute every open obligation it sets or
    moves (``recomputed``, one event each), and emit ``calendar.loaded`` once."""
    now = clock.now()
    if year in LIBRARY_YEARS:
        raise errors.CALENDAR_YEAR_OFFICIAL.error(
            f"{year} is in the calendar library (chinese-calendar); it is not replaced"
        )
    source = body.source or ""
    schedule = YearSchedule(year, frozenset(body.holidays), frozenset(body.workdays), source)
    row = await repository.calendar_year(session, year)  # locked: loads of a year queue
    trial = (await calendar_now(session, live)).copy()
    trial.load_year(year, schedule.holidays, schedule.workdays, source)
    values = {
        "holidays": [d.isoformat() for d in sorted(schedule.holidays)],
        "workdays": [d.isoformat() for d in sorted(schedule.workdays)],
        "source": source,
        "loaded_by": principal.sub,
        "loaded_at": now,
    }
    if row is None:
        row = CalendarYear(year=year, version=1, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.version += 1
    await session.flush()
    recomputed = await repository.recompute(
        session, trial, await repository.recomputable(session), now
    )
    await publisher.publish(
        session, "govit.filing.calendar.loaded", str(year), views.calendar_payload(row), now
    )
    return row, recomputed
