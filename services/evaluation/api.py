"""HTTP routes (API.md "Evaluation"): parse, call one use case, shape the answer.

Two routers: every route but one needs a verified token (and a token whose unit lies
in another jurisdiction is refused); the questionnaire's answers are anonymous (the
gateway rate-limits them per IP) and need a respondent token instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from services.evaluation import domain, errors, service, views
from services.evaluation.models import idempotency_keys
from services.evaluation.schemas import (
    AnswerCreate,
    AnswerOut,
    AssessmentCreate,
    AssessmentFilters,
    AssessmentOut,
    AssessmentPage,
    Confirm,
    Escalate,
    EvaluationCreate,
    EvaluationFilters,
    EvaluationOut,
    EvaluationPage,
    Note,
    QuestionnaireCreate,
    QuestionnaireCreated,
    QuestionnaireOut,
    RectificationCreate,
    RectificationDetail,
    RectificationFilters,
    RectificationOut,
    RectificationPage,
    SpotCheckCreate,
    SpotCheckOut,
)
from shared.app import DbSession, RequestClock
from shared.auth import CurrentPrincipal, Principal
from shared.codes import (
    CURSOR_INVALID,
    IDEMPOTENCY_KEY,
    ROLE_REQUIRED,
    TOKEN_JURISDICTION_MISMATCH,
    VALIDATION_FAILED,
)
from shared.idempotency import idempotent
from shared.pagination import page_response, query_model, query_parameters
from shared.route_errors import Raises
from shared.routing import Authority, Finance, api_router

# Every route: a token whose unit lies in another jurisdiction is refused (403).
router = api_router("evaluation", check_caller=service.check_caller)
# The one anonymous route: no token, no Idempotency-Key (a respondent token is spent
# once, which is what a retry needs to know).
anonymous = APIRouter(prefix="/api/v1", tags=["evaluation"])

Idempotent = idempotent(idempotency_keys)


_raises = Raises(TOKEN_JURISDICTION_MISMATCH, VALIDATION_FAILED)
_anonymous_raises = Raises(VALIDATION_FAILED)  # no token: no home to check


class EvaluationQuery(EvaluationFilters):
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=200)


class RectificationQuery(RectificationFilters):
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=200)


class AssessmentQuery(AssessmentFilters):
    limit: int = Query(50, ge=1, le=service.MAX_PAGE)
    cursor: str | None = Query(None, max_length=200)


# --- evaluations ------------------------------------------------------------------------


@router.post(
    "/evaluations",
    status_code=201,
    response_model=EvaluationOut,
    responses=_raises(
        errors.FORBIDDEN,
        errors.PROJECT_UNKNOWN,
        errors.UNIT_UNKNOWN,
        errors.FILING_UNKNOWN,
        errors.SCORES_REFUSED,
        errors.EVALUATION_FIELDS_INVALID,
        also=[IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def create_evaluation(
    body: EvaluationCreate, session: DbSession, principal: CurrentPrincipal, clock: RequestClock
) -> dict[str, object]:
    evaluation = await service.create_evaluation(
        session, principal, body, clock.today(), clock.now()
    )
    return views.evaluation_out(evaluation)


_list_evaluations = query_model(EvaluationQuery)  # the read path: one validation


@router.get(
    "/evaluations",
    response_model=EvaluationPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(EvaluationQuery),
)
async def list_evaluations(
    query: Annotated[EvaluationQuery, Depends(_list_evaluations)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    rows, next_cursor = await service.list_evaluations(
        session, principal, query, query.limit, query.cursor
    )
    return page_response([views.evaluation_out(r) for r in rows], next_cursor)


@router.post(
    "/evaluations:spot-check",
    status_code=201,
    response_model=SpotCheckOut,
    responses=_raises(also=[ROLE_REQUIRED, IDEMPOTENCY_KEY]),
    dependencies=[Idempotent],
)
async def spot_check(
    body: SpotCheckCreate, session: DbSession, principal: Finance, clock: RequestClock
) -> dict[str, object]:
    return views.spot_check_out(await service.spot_check(session, principal, body, clock.now()))


@router.get(
    "/evaluations:spot-check/{spot_check_id}",
    response_model=SpotCheckOut,
    responses=_raises(errors.NOT_FOUND),
)
async def get_spot_check(
    spot_check_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    """A drawn check as it was answered: its seed lets an auditor draw it again."""
    return views.spot_check_out(await service.get_spot_check(session, principal, spot_check_id))


@router.get(
    "/evaluations/{evaluation_id}",
    response_model=EvaluationOut,
    responses=_raises(errors.NOT_FOUND),
)
async def get_evaluation(
    evaluation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return views.evaluation_out(await service.get_evaluation(session, principal, evaluation_id))


@router.post(
    "/evaluations/{evaluation_id}/complete",
    response_model=EvaluationOut,
    responses=_raises(
        errors.NOT_FOUND,
        errors.EVALUATION_NOT_PENDING,
        errors.QUESTIONNAIRE_MISSING,
        errors.QUESTIONNAIRE_STILL_OPEN,
        errors.QUESTIONNAIRE_NO_ANSWERS,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def complete_evaluation(
    evaluation_id: uuid.UUID, session: DbSession, principal: Authority, clock: RequestClock
) -> dict[str, object]:
    """A pending questionnaire evaluation, completed once its questionnaire has closed:
    the answers' aggregate scores `user_satisfaction`."""
    evaluation = await service.complete_from_questionnaire(
        session, principal, evaluation_id, clock.today(), clock.now()
    )
    return views.evaluation_out(evaluation)


# --- questionnaires ------------------------------------------------------------------------


def _questionnaire_out(questionnaire: Any, answers: list[int]) -> dict[str, Any]:
    satisfaction = domain.likert_to_score(answers)
    return {
        "questionnaire_id": str(questionnaire.id),
        "evaluation_id": str(questionnaire.evaluation_id),
        "opens_on": questionnaire.opens_on.isoformat(),
        "closes_on": questionnaire.closes_on.isoformat(),
        "respondents": questionnaire.respondents,
        "answers": len(answers),
        "user_satisfaction": None if satisfaction is None else float(satisfaction),
    }


@router.post(
    "/evaluations/{evaluation_id}/questionnaire",
    status_code=201,
    response_model=QuestionnaireCreated,
    responses=_raises(
        errors.NOT_FOUND,
        errors.QUESTIONNAIRE_NOT_APPLICABLE,
        errors.WINDOW_INVALID,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def open_questionnaire(
    evaluation_id: uuid.UUID,
    body: QuestionnaireCreate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    """Opens the public questionnaire and hands out one signed, single-use respondent
    token per respondent. The service keeps none of them (only the HMAC key and, once
    spent, a digest of each nonce); sent with an Idempotency-Key, this answer is kept
    for the key's replay window like any other."""
    questionnaire, tokens = await service.open_questionnaire(
        session, principal, evaluation_id, body, clock.now()
    )
    return {**_questionnaire_out(questionnaire, []), "respondent_tokens": tokens}


@router.get(
    "/evaluations/{evaluation_id}/questionnaire",
    response_model=QuestionnaireOut,
    responses=_raises(errors.NOT_FOUND, errors.QUESTIONNAIRE_MISSING),
)
async def get_questionnaire(
    evaluation_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    questionnaire, answers = await service.questionnaire(session, principal, evaluation_id)
    return _questionnaire_out(questionnaire, answers)


@anonymous.post(
    "/evaluations/{evaluation_id}/questionnaire-answers",
    status_code=201,
    response_model=AnswerOut,
    responses=_anonymous_raises(
        errors.RESPONDENT_TOKEN_INVALID,
        errors.RESPONDENT_TOKEN_USED,
        errors.QUESTIONNAIRE_NOT_OPEN,
        also=[{404: "`not_found`: the evaluation has no questionnaire."}],
    ),
)
async def answer_questionnaire(
    evaluation_id: uuid.UUID, body: AnswerCreate, session: DbSession, clock: RequestClock
) -> dict[str, object]:
    """Anonymous: one answer per respondent token, inside the questionnaire's window."""
    questionnaire = await service.answer(session, evaluation_id, body, clock.today(), clock.now())
    return {"questionnaire_id": str(questionnaire.id), "accepted": True}


# --- rectifications ---------------------------------------------------------------------


@router.post(
    "/rectifications",
    status_code=201,
    response_model=RectificationOut,
    responses=_raises(
        errors.PROJECT_UNKNOWN,
        errors.PROJECT_NOT_RECTIFIABLE,
        errors.RECTIFICATION_REFUSED,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def order_rectification(
    body: RectificationCreate, session: DbSession, principal: Authority, clock: RequestClock
) -> dict[str, object]:
    order = await service.order_rectification(session, principal, body, clock.today(), clock.now())
    return views.rectification_out(order, clock.today())


_list_rectifications = query_model(RectificationQuery)


@router.get(
    "/rectifications",
    response_model=RectificationPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(RectificationQuery),
)
async def list_rectifications(
    query: Annotated[RectificationQuery, Depends(_list_rectifications)],
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> Response:
    today = clock.today()
    rows, next_cursor = await service.list_rectifications(
        session, principal, query, today, query.limit, query.cursor
    )
    return page_response([views.rectification_out(r, today) for r in rows], next_cursor)


@router.get(
    "/rectifications/{rectification_id}",
    response_model=RectificationDetail,
    responses=_raises(errors.NOT_FOUND),
)
async def get_rectification(
    rectification_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    clock: RequestClock,
) -> dict[str, object]:
    order = await service.get_rectification(session, principal, rectification_id)
    history = await service.rectification_history(session, order.id)
    return views.rectification_detail(order, clock.today(), history)


_STEP = _raises(
    errors.NOT_FOUND,
    errors.TRANSITION_REFUSED,
    errors.RECTIFICATION_REFUSED,
    also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
)


async def _act(
    session: DbSession,
    principal: Principal,
    clock: RequestClock,
    order_id: uuid.UUID,
    action: str,
    fields: Mapping[str, Any],
) -> dict[str, object]:
    order = await service.act_on_rectification(
        session, principal, order_id, action, fields, clock.today(), clock.now()
    )
    return views.rectification_out(order, clock.today())


@router.post(
    "/rectifications/{rectification_id}/confirm",
    response_model=RectificationOut,
    responses=_STEP,
    dependencies=[Idempotent],
)
async def confirm_rectification(
    rectification_id: uuid.UUID,
    body: Confirm,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    """A suggested order (from a missed acceptance deadline) confirmed: it is ordered."""
    fields = body.model_dump()
    return await _act(session, principal, clock, rectification_id, "confirm", fields)


@router.post(
    "/rectifications/{rectification_id}/dismiss",
    response_model=RectificationOut,
    responses=_STEP,
    dependencies=[Idempotent],
)
async def dismiss_rectification(
    rectification_id: uuid.UUID,
    body: Note,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    fields = body.model_dump()
    return await _act(session, principal, clock, rectification_id, "dismiss", fields)


@router.post(
    "/rectifications/{rectification_id}/resolve",
    response_model=RectificationOut,
    responses=_STEP,
    dependencies=[Idempotent],
)
async def resolve_rectification(
    rectification_id: uuid.UUID,
    body: Note,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    """Rectified: an escalated order's funds resume."""
    fields = body.model_dump()
    return await _act(session, principal, clock, rectification_id, "resolve", fields)


@router.post(
    "/rectifications/{rectification_id}/escalate",
    response_model=RectificationOut,
    responses=_STEP,
    dependencies=[Idempotent],
)
async def escalate_rectification(
    rectification_id: uuid.UUID,
    body: Escalate,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    """Refused, or still failing after the due date: the project's funds are suspended."""
    fields = body.model_dump()
    return await _act(session, principal, clock, rectification_id, "escalate", fields)


@router.post(
    "/rectifications/{rectification_id}/request-termination",
    response_model=RectificationOut,
    responses=_STEP,
    dependencies=[Idempotent],
)
async def request_termination(
    rectification_id: uuid.UUID,
    body: Note,
    session: DbSession,
    principal: Authority,
    clock: RequestClock,
) -> dict[str, object]:
    """Still failing after escalation: approval terminates the project on the event."""
    fields = body.model_dump()
    return await _act(session, principal, clock, rectification_id, "request_termination", fields)


# --- assessments -------------------------------------------------------------------------


@router.post(
    "/assessments",
    status_code=201,
    response_model=AssessmentOut,
    responses=_raises(
        errors.UNIT_UNKNOWN,
        errors.GRADE_INCONSISTENT,
        errors.ASSESSMENT_EXISTS,
        also=[ROLE_REQUIRED, IDEMPOTENCY_KEY],
    ),
    dependencies=[Idempotent],
)
async def publish_assessment(
    body: AssessmentCreate, session: DbSession, principal: Authority, clock: RequestClock
) -> dict[str, object]:
    return views.assessment_out(
        await service.publish_assessment(session, principal, body, clock.now())
    )


_list_assessments = query_model(AssessmentQuery)  # the read path: one validation


@router.get(
    "/assessments",
    response_model=AssessmentPage,
    responses=_raises(also=[CURSOR_INVALID]),
    openapi_extra=query_parameters(AssessmentQuery),
)
async def list_assessments(
    query: Annotated[AssessmentQuery, Depends(_list_assessments)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> Response:
    rows, next_cursor = await service.list_assessments(
        session, principal, query, query.limit, query.cursor
    )
    return page_response([views.assessment_out(r) for r in rows], next_cursor)


@router.get(
    "/assessments/{assessment_id}",
    response_model=AssessmentOut,
    responses=_raises(errors.NOT_FOUND),
)
async def get_assessment(
    assessment_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal
) -> dict[str, object]:
    return views.assessment_out(await service.get_assessment(session, principal, assessment_id))
