"""The evaluation service's use cases: load, ask ``domain``, write, emit.

Every function flushes and never commits: the request's one commit point
(``shared.app.DbSession``) commits the state, the revision and the outbox rows
together, or none of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluation import domain, errors, repository, views
from services.evaluation.models import (
    Assessment,
    Evaluation,
    Questionnaire,
    Rectification,
    SpotCheck,
    publisher,
)
from services.evaluation.schemas import (
    AnswerCreate,
    AssessmentCreate,
    AssessmentFilters,
    EvaluationCreate,
    EvaluationFilters,
    QuestionnaireCreate,
    RectificationCreate,
    RectificationFilters,
    SpotCheckCreate,
)
from shared.auth import Level, Principal, Role, allows, caller_check
from shared.ids import new_id
from shared.policy import PolicyProfile, load_profile

MAX_PAGE = 500

# --- the caller -----------------------------------------------------------------------------

# The unit directory here is a projection: "unknown" is remembered briefly only.
# 403 ``token_jurisdiction_mismatch`` when the token's unit lies elsewhere, as this
# service's copy of the unit directory tells it (shared.auth.home).
check_caller = caller_check(repository.unit_jurisdiction, unknown_seconds=5)


async def _project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID
) -> Mapping[str, Any]:
    """The project from approval's events, if the caller may read it (else 422: a body
    field names it, and whether another unit's project exists is not the caller's)."""
    project = await repository.project(session, project_id)
    if project is None or not allows(principal, project, domain.PROJECTS):
        raise errors.PROJECT_UNKNOWN.error(f"project {project_id} is not known here")
    return project


def _profile_of(project: Mapping[str, Any]) -> PolicyProfile:
    return load_profile(project["profile"], project["profile_version"])


# --- evaluations ------------------------------------------------------------------------


async def create_evaluation(
    session: AsyncSession, principal: Principal, body: EvaluationCreate, today: date, now: datetime
) -> Evaluation:
    if body.kind != "unit_annual" and (body.project_id is None or body.org is not None):
        raise errors.EVALUATION_FIELDS_INVALID.error(
            f"a {body.kind} evaluation names its project (`project_id`), not `org`"
        )
    if body.kind == "unit_annual":
        org, project_id, profile = await _unit_evaluated(session, principal, body)
        co_orgs: list[uuid.UUID] = []
    else:
        assert body.project_id is not None  # checked above
        project = await _project(session, principal, body.project_id)
        org, project_id, profile = _project_evaluated(principal, body, project)
        co_orgs = list(project["co_orgs"])
    rules = domain.scoring(profile)
    scores = dict(body.scores)
    if violations := domain.score_violations(body.kind, scores, rules):
        raise errors.refused(errors.SCORES_REFUSED, "the scores break the rules", violations)
    status = "completed"
    missing = domain.missing_dimensions(scores, rules)
    if body.kind == "efficacy" and missing:
        if body.method == "questionnaire" and missing == ["user_satisfaction"]:
            status = "pending"  # the questionnaire's aggregate will score it
        else:
            violation = domain.efficacy_incomplete(missing, rules)
            raise errors.refused(errors.SCORES_REFUSED, violation.message_en, [violation])
    filing = None
    if body.kind == "self":
        filing = await _filing(session, project_id, body.filing_id)
    elif body.filing_id is not None:
        raise errors.EVALUATION_FIELDS_INVALID.error("`filing_id` goes with a self-evaluation")
    evaluation = Evaluation(
        id=new_id(),
        project_id=project_id,
        org=org,
        co_orgs=co_orgs,
        jurisdiction=principal.jurisdiction,
        profile=profile.id,
        profile_version=profile.version,
        kind=body.kind,
        method=body.method,
        year=body.year or today.year,
        status=status,
        scores={d: str(v) for d, v in scores.items()},
        failing=False,
        filing_id=None if filing is None else filing["id"],
        obligation_id=None if filing is None else filing["obligation_id"],
        version=1,
        created_at=now,
        created_by=principal.sub,
    )
    if status == "completed":
        _score(evaluation, scores, rules, today)
    await repository.add(session, evaluation)
    if status == "completed":
        await _completed(session, evaluation, now)
    return evaluation


async def _unit_evaluated(
    session: AsyncSession, principal: Principal, body: EvaluationCreate
) -> tuple[uuid.UUID, None, PolicyProfile]:
    if body.org is None or body.project_id is not None:
        raise errors.EVALUATION_FIELDS_INVALID.error(
            "a unit_annual evaluation names the unit (`org`), not a project"
        )
    if not principal.has_role(Role.AUTHORITY):
        raise errors.FORBIDDEN.error("the authority evaluates units")
    if await repository.unit_jurisdiction(session, body.org) != principal.jurisdiction:
        raise errors.UNIT_UNKNOWN.error(f"unit {body.org} is not in {principal.jurisdiction}")
    return body.org, None, load_profile(principal.jurisdiction)


def _project_evaluated(
    principal: Principal, body: EvaluationCreate, project: Mapping[str, Any]
) -> tuple[uuid.UUID, uuid.UUID, PolicyProfile]:
    if body.kind == "self":
        # The unit evaluates its own project (a co-builder reads it, the lead reports).
        if not principal.has_role(Role.UNIT) or not allows(
            principal, project, domain.PROJECTS, Level.WRITE
        ):
            raise errors.FORBIDDEN.error("a self-evaluation is the project's own unit's")
    elif not principal.has_role(Role.AUTHORITY):
        raise errors.FORBIDDEN.error(f"the authority carries out {body.kind} evaluations")
    return project["org"], project["id"], _profile_of(project)


async def _filing(
    session: AsyncSession, project_id: uuid.UUID | None, filing_id: uuid.UUID | None
) -> Mapping[str, Any] | None:
    """The self-evaluation filing a self-evaluation goes with (and the obligation it met)."""
    assert project_id is not None
    if filing_id is None:
        return await repository.latest_unlinked_filing(session, project_id)
    filing = await repository.self_evaluation_filing(session, filing_id)
    if filing is None or filing["project_id"] != project_id:
        raise errors.filing_unknown(filing_id, project_id)
    return filing


def _score(
    evaluation: Evaluation, scores: Mapping[str, Decimal], rules: domain.Scoring, today: date
) -> None:
    result = domain.score(scores, rules)
    evaluation.total_score = result.total
    evaluation.grade = result.grade
    evaluation.failing = result.failing
    evaluation.status = "completed"
    evaluation.completed_on = today


async def _completed(session: AsyncSession, evaluation: Evaluation, now: datetime) -> None:
    data = views.evaluation_payload(evaluation)
    await publisher.publish(
        session, "govit.evaluation.evaluation.completed", evaluation.id, data, now
    )


async def get_evaluation(
    session: AsyncSession,
    principal: Principal,
    evaluation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Evaluation:
    evaluation = await repository.readable_evaluation(
        session, principal, evaluation_id, for_update=for_update
    )
    if evaluation is None:
        raise errors.not_found("evaluation", evaluation_id)
    return evaluation


async def list_evaluations(
    session: AsyncSession,
    principal: Principal,
    filters: EvaluationFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    return await repository.evaluation_page(session, principal, filters, limit, cursor)


async def spot_check(
    session: AsyncSession, principal: Principal, body: SpotCheckCreate, now: datetime
) -> SpotCheck:
    """A reproducible sample of the jurisdiction's self-evaluations of a year
    (xiangfen:27, xinzhou-transport:23): the seed is recorded and returned."""
    seed = body.seed or secrets.token_hex(16)
    population = await repository.self_evaluations_of(session, principal.jurisdiction, body.year)
    sample = domain.spot_check_sample(population, body.size, seed)
    check = SpotCheck(
        id=new_id(),
        jurisdiction=principal.jurisdiction,
        year=body.year,
        size=body.size,
        seed=seed,
        sample=sample,
        population=len(population),
        created_at=now,
        created_by=principal.sub,
    )
    await repository.spot_check(session, check)
    return check


async def get_spot_check(
    session: AsyncSession, principal: Principal, spot_check_id: uuid.UUID
) -> SpotCheck:
    """A drawn check as it was answered, for whoever oversees its jurisdiction (an
    auditor re-draws it from the seed); 404 elsewhere, as if it did not exist."""
    found = await repository.readable_spot_check(session, principal, spot_check_id)
    if found is None:
        raise errors.not_found("spot check", spot_check_id)
    return found


# --- questionnaires ------------------------------------------------------------------------

# A respondent token: base64url(questionnaire id ‖ 16-byte nonce) "." base64url(HMAC-SHA256
# of that under the questionnaire's own secret, first 16 bytes). Only the authority's
# handout has them; forging one needs the secret, which never leaves the database, and
# each is spent once (the unique (questionnaire, SHA-256 of the nonce) index).
_NONCE_BYTES = 16
_MAC_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()[:_MAC_BYTES]


def respondent_token(questionnaire: Questionnaire) -> str:
    body = questionnaire.id.bytes + secrets.token_bytes(_NONCE_BYTES)
    return f"{_b64(body)}.{_b64(_mac(questionnaire.secret, body))}"


def token_digest(questionnaire: Questionnaire, token: str) -> bytes | None:
    """The spent-token key (SHA-256 of the nonce) of a genuine token, else None."""
    try:
        head, mac = token.split(".")
        body, signature = _unb64(head), _unb64(mac)
    except ValueError:
        return None
    if len(body) != 16 + _NONCE_BYTES or body[:16] != questionnaire.id.bytes:
        return None
    if not hmac.compare_digest(signature, _mac(questionnaire.secret, body)):
        return None
    return hashlib.sha256(body[16:]).digest()


async def open_questionnaire(
    session: AsyncSession,
    principal: Principal,
    evaluation_id: uuid.UUID,
    body: QuestionnaireCreate,
    now: datetime,
) -> tuple[Questionnaire, list[str]]:
    evaluation = await get_evaluation(session, principal, evaluation_id, for_update=True)
    if evaluation.method != "questionnaire" or evaluation.status != "pending":
        raise errors.QUESTIONNAIRE_NOT_APPLICABLE.error(
            "a questionnaire scores user satisfaction of a pending questionnaire evaluation"
        )
    if await repository.questionnaire_of(session, evaluation.id) is not None:
        raise errors.QUESTIONNAIRE_NOT_APPLICABLE.error("the evaluation has its questionnaire")
    if body.closes_on < body.opens_on:
        raise errors.WINDOW_INVALID.error("`closes_on` comes before `opens_on`")
    questionnaire = Questionnaire(
        id=new_id(),
        evaluation_id=evaluation.id,
        jurisdiction=evaluation.jurisdiction,
        org=evaluation.org,
        opens_on=body.opens_on,
        closes_on=body.closes_on,
        respondents=body.respondents,
        secret=secrets.token_bytes(32),
        created_at=now,
    )
    await repository.add(session, questionnaire)
    tokens = [respondent_token(questionnaire) for _ in range(body.respondents)]
    return questionnaire, tokens


async def questionnaire(
    session: AsyncSession, principal: Principal, evaluation_id: uuid.UUID
) -> tuple[Questionnaire, list[int]]:
    evaluation = await get_evaluation(session, principal, evaluation_id)
    found = await repository.questionnaire_of(session, evaluation.id)
    if found is None:
        raise errors.QUESTIONNAIRE_MISSING.error(f"evaluation {evaluation_id} has none")
    return found, await repository.answers_of(session, found.id)


async def answer(
    session: AsyncSession, evaluation_id: uuid.UUID, body: AnswerCreate, today: date, now: datetime
) -> Questionnaire:
    """An anonymous answer: counted once per genuine respondent token, inside the window."""
    found = await repository.questionnaire_of(session, evaluation_id)
    if found is None:
        raise errors.not_found("questionnaire of evaluation", evaluation_id)
    digest = token_digest(found, body.respondent_token)
    if digest is None:
        raise errors.RESPONDENT_TOKEN_INVALID.error("not a token this questionnaire handed out")
    if violation := domain.questionnaire_window(today, found.opens_on, found.closes_on):
        raise errors.refused(errors.QUESTIONNAIRE_NOT_OPEN, violation.message_en, [violation])
    values = {
        "id": new_id(),
        "questionnaire_id": found.id,
        "token_digest": digest,
        "satisfaction": body.satisfaction,
        "comment": body.comment,
        "submitted_at": now,
    }
    if not await repository.record_answer(session, values):
        raise errors.RESPONDENT_TOKEN_USED.error("this respondent token has answered already")
    return found


async def complete_from_questionnaire(
    session: AsyncSession,
    principal: Principal,
    evaluation_id: uuid.UUID,
    today: date,
    now: datetime,
) -> Evaluation:
    """The closed questionnaire's aggregate scores ``user_satisfaction``; the evaluation
    is completed (and published)."""
    evaluation = await get_evaluation(session, principal, evaluation_id, for_update=True)
    if evaluation.status != "pending":
        raise errors.EVALUATION_NOT_PENDING.error(f"evaluation {evaluation_id} is completed")
    found = await repository.questionnaire_of(session, evaluation.id)
    if found is None:
        raise errors.QUESTIONNAIRE_MISSING.error(f"evaluation {evaluation_id} has none")
    if today <= found.closes_on:
        raise errors.QUESTIONNAIRE_STILL_OPEN.error(
            f"the questionnaire closes on {found.closes_on.isoformat()}"
        )
    satisfaction = domain.likert_to_score(await repository.answers_of(session, found.id))
    if satisfaction is None:
        raise errors.QUESTIONNAIRE_NO_ANSWERS.error("nobody answered the questionnaire")
    scores = {d: Decimal(v) for d, v in evaluation.scores.items()}
    scores["user_satisfaction"] = satisfaction
    rules = domain.scoring(load_profile(evaluation.profile, evaluation.profile_version))
    evaluation.scores = {d: str(v) for d, v in scores.items()}
    _score(evaluation, scores, rules, today)
    evaluation.version += 1
    await session.flush()
    await _completed(session, evaluation, now)
    return evaluation


# --- rectifications ---------------------------------------------------------------------

_EVENT_OF = {
    "confirm": "govit.evaluation.rectification.ordered",
    "resolve": "govit.evaluation.rectification.resolved",
    "escalate": "govit.evaluation.rectification.escalated",
    "request_termination": "govit.evaluation.rectification.termination_requested",
}


async def order_rectification(
    session: AsyncSession,
    principal: Principal,
    body: RectificationCreate,
    today: date,
    now: datetime,
) -> Rectification:
    project = await _project(session, principal, body.project_id)
    profile = _profile_of(project)
    if violation := domain.project_violation(project["status"], profile):
        raise errors.refused(errors.PROJECT_NOT_RECTIFIABLE, violation.message_en, [violation])
    violations = [
        v
        for v in (
            domain.reason_violation(body.reason, profile),
            domain.due_violation(body.due_on, today, profile),
        )
        if v is not None
    ]
    if violations:
        raise errors.refused(errors.RECTIFICATION_REFUSED, violations[0].message_en, violations)
    order = Rectification(
        id=new_id(),
        project_id=project["id"],
        org=project["org"],
        co_orgs=list(project["co_orgs"]),
        jurisdiction=project["jurisdiction"],
        profile=profile.id,
        profile_version=profile.version,
        reason=body.reason,
        status="open",
        due_on=body.due_on,
        ordered_on=today,
        suggested_on=None,
        rule=domain.reason_rule(body.reason, profile),
        evidence=body.evidence,
        obligation_id=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, order)
    changes = {k: {"before": None, "after": v} for k, v in views.rectification_state(order).items()}
    await repository.record_revision(session, order.id, principal, changes, now)
    data = views.rectification_payload(order)
    await publisher.publish(session, "govit.evaluation.rectification.ordered", order.id, data, now)
    return order


async def get_rectification(
    session: AsyncSession, principal: Principal, order_id: uuid.UUID, *, for_update: bool = False
) -> Rectification:
    order = await repository.readable_rectification(
        session, principal, order_id, for_update=for_update
    )
    if order is None:
        raise errors.not_found("rectification", order_id)
    return order


async def rectification_history(
    session: AsyncSession, order_id: uuid.UUID
) -> Sequence[dict[str, Any]]:
    return await repository.history(session, order_id)


async def list_rectifications(
    session: AsyncSession,
    principal: Principal,
    filters: RectificationFilters,
    today: date,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    return await repository.rectification_page(session, principal, filters, today, limit, cursor)


async def act_on_rectification(
    session: AsyncSession,
    principal: Principal,
    order_id: uuid.UUID,
    action: str,
    fields: Mapping[str, Any],
    today: date,
    now: datetime,
) -> Rectification:
    """One step of the lifecycle, by the authority: confirm or dismiss a suggestion,
    resolve, escalate (funds suspended), request termination."""
    order = await get_rectification(session, principal, order_id, for_update=True)
    profile = load_profile(order.profile, order.profile_version)
    if violation := domain.transition_violation(order.status, action, profile):
        raise errors.refused(errors.TRANSITION_REFUSED, violation.message_en, [violation])
    if action == "escalate" and (
        violation := domain.escalation_violation(fields["grounds"], today, order.due_on, profile)
    ):
        raise errors.refused(errors.TRANSITION_REFUSED, violation.message_en, [violation])
    if action == "confirm" and (
        violation := domain.due_violation(fields["due_on"], today, profile)
    ):
        raise errors.refused(errors.RECTIFICATION_REFUSED, violation.message_en, [violation])
    before = views.rectification_state(order)
    order.status = domain.TRANSITIONS[(order.status, action)]
    if action == "confirm":
        order.due_on = fields["due_on"]
        order.ordered_on = today
        if fields.get("evidence") is not None:
            order.evidence = fields["evidence"]
    order.version += 1
    order.updated_at = now
    after = views.rectification_state(order)
    changes: dict[str, Any] = {
        k: {"before": before[k], "after": v} for k, v in after.items() if before[k] != v
    }
    changes["action"] = {"before": None, "after": action}
    for extra in ("grounds", "note"):
        if fields.get(extra) is not None:
            changes[extra] = {"before": None, "after": fields[extra]}
    await repository.record_revision(session, order.id, principal, changes, now)
    if action in _EVENT_OF:
        data = views.rectification_payload(order)
        await publisher.publish(session, _EVENT_OF[action], order.id, data, now)
    return order


# --- assessments ------------------------------------------------------------------------


async def publish_assessment(
    session: AsyncSession, principal: Principal, body: AssessmentCreate, now: datetime
) -> Assessment:
    if await repository.unit_jurisdiction(session, body.org) != principal.jurisdiction:
        raise errors.UNIT_UNKNOWN.error(f"unit {body.org} is not in {principal.jurisdiction}")
    band = domain.scoring(load_profile(principal.jurisdiction)).grade(body.score)
    if body.grade is not None and body.grade != band.grade:
        raise errors.GRADE_INCONSISTENT.error(
            f"a score of {body.score} is graded {band.grade}, not {body.grade}",
            extra={"expected_grade": band.grade},
        )
    values = {
        "id": new_id(),
        "org": body.org,
        "jurisdiction": principal.jurisdiction,
        "year": body.year,
        "score": body.score,
        "grade": band.grade,
        "comment": body.comment,
        "version": 1,
        "created_at": now,
    }
    assessment = await repository.insert_assessment(session, values)
    if assessment is None:
        raise errors.ASSESSMENT_EXISTS.error(f"unit {body.org} has its {body.year} assessment")
    data = views.assessment_payload(assessment)
    await publisher.publish(
        session, "govit.evaluation.assessment.published", assessment.id, data, now
    )
    return assessment


async def list_assessments(
    session: AsyncSession,
    principal: Principal,
    filters: AssessmentFilters,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    return await repository.assessment_page(session, principal, filters, limit, cursor)


async def get_assessment(
    session: AsyncSession, principal: Principal, assessment_id: uuid.UUID
) -> Assessment:
    found = await repository.readable_assessment(session, principal, assessment_id)
    if found is None:
        raise errors.not_found("assessment", assessment_id)
    return found
