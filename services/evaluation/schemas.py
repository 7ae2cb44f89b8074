"""The evaluation service's public contract (API.md "Evaluation"): request and response
bodies. Unknown fields are refused; text goes through the shared validator.

Scores are JSON numbers from 0 to 100 with at most two decimals (an unknown dimension
is the rules' to refuse, with the article: ``scores_refused``).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.json_schema import SkipJsonSchema

from services.evaluation.domain import EscalationGrounds, Kind, Method, Status
from shared.policy.rules import ProfileId as Jurisdiction
from shared.policy.rules import RectificationReason
from shared.text import ShortText, Text

Score = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Year = Annotated[StrictInt, Field(ge=2000, le=2100)]
NotNull = SkipJsonSchema[None]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- evaluations ------------------------------------------------------------------------


class EvaluationCreate(Body):
    project_id: uuid.UUID | NotNull = Field(
        default=None, description="The project evaluated (every kind but `unit_annual`)."
    )
    org: uuid.UUID | NotNull = Field(
        default=None, description="The unit evaluated (`unit_annual` only)."
    )
    kind: Kind
    method: Method
    scores: dict[ShortText, Score] = Field(
        default_factory=dict,
        max_length=5,
        description="Per dimension, 0-100. An efficacy evaluation scores all five; by"
        " `questionnaire` it may leave `user_satisfaction` to the questionnaire.",
    )
    year: Year | NotNull = Field(
        default=None, description="The (budget) year evaluated; this year when left out."
    )
    filing_id: uuid.UUID | NotNull = Field(
        default=None,
        description="`self` only: the self-evaluation filing it goes with (the latest"
        " unlinked one of the project when left out).",
    )


class EvaluationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID | None
    org: uuid.UUID
    jurisdiction: str
    kind: Kind
    method: Method
    year: int
    status: str = Field(description="`pending` (awaiting its questionnaire) or `completed`")
    scores: dict[str, float]
    total_score: float | None
    grade: str | None
    failing: bool
    scoring: str = Field(description="Where the weights and grade bands came from")
    filing_id: uuid.UUID | None
    obligation_id: uuid.UUID | None
    completed_on: date | None
    version: int


class EvaluationPage(BaseModel):
    items: list[EvaluationOut]
    next_cursor: str | None


class EvaluationFilters(BaseModel):
    project_id: uuid.UUID | None = None
    org: uuid.UUID | None = None
    kind: Kind | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)


class SpotCheckCreate(Body):
    year: Year
    size: StrictInt = Field(ge=1, le=1000)
    seed: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | (
        NotNull
    ) = Field(default=None, description="Replays a recorded draw; a fresh one when left out.")


class SpotCheckOut(BaseModel):
    id: uuid.UUID
    jurisdiction: str
    year: int
    size: int
    seed: str
    population: int | None = Field(
        description="Self-evaluations of the jurisdiction and year it was drawn from "
        "(null for a check drawn before this was recorded)"
    )
    sample: list[uuid.UUID]


# --- questionnaires -------------------------------------------------------------------


class QuestionnaireCreate(Body):
    opens_on: date
    closes_on: date
    respondents: StrictInt = Field(
        ge=1, le=2000, description="How many single-use respondent tokens to hand out"
    )


class QuestionnaireOut(BaseModel):
    questionnaire_id: uuid.UUID
    evaluation_id: uuid.UUID
    opens_on: date
    closes_on: date
    respondents: int
    answers: int
    user_satisfaction: float | None = Field(description="The answers' mean, 1-5 mapped to 0-100")


class QuestionnaireCreated(QuestionnaireOut):
    respondent_tokens: list[str] = Field(
        description="One per respondent, single use, signed; the service keeps none"
    )


class AnswerCreate(Body):
    respondent_token: Annotated[str, Field(min_length=1, max_length=200)]
    satisfaction: StrictInt = Field(ge=1, le=5, description="1 (very unsatisfied) to 5")
    comment: Text | NotNull = None


class AnswerOut(BaseModel):
    questionnaire_id: uuid.UUID
    accepted: bool


# --- rectifications ---------------------------------------------------------------------


class RectificationCreate(Body):
    project_id: uuid.UUID
    reason: RectificationReason
    due_on: date
    evidence: Text | NotNull = None


class Confirm(Body):
    due_on: date
    evidence: Text | NotNull = None


class Note(Body):
    note: Text | NotNull = None


class Escalate(Body):
    grounds: EscalationGrounds = Field(
        description="`refused`: the unit refuses to rectify; `still_failing`: still failing"
        " after the due date"
    )
    note: Text | NotNull = None


class RevisionOut(BaseModel):
    at: str
    actor: str
    actor_org: str
    changes: dict[str, Any]


class RectificationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    reason: RectificationReason
    status: Status
    due_on: date | None
    ordered_on: date | None
    suggested_on: date | None
    rule: str
    evidence: str | None
    obligation_id: uuid.UUID | None
    overdue: bool = Field(description="Past its due date and unresolved (open or escalated)")
    version: int


class RectificationDetail(RectificationOut):
    history: list[RevisionOut]


class RectificationPage(BaseModel):
    items: list[RectificationOut]
    next_cursor: str | None


class RectificationFilters(BaseModel):
    project_id: uuid.UUID | None = None
    org: uuid.UUID | None = None
    status: Status | None = None
    overdue: bool | None = None


# --- assessments -------------------------------------------------------------------------


class AssessmentCreate(Body):
    org: uuid.UUID
    year: Year
    score: Score
    grade: ShortText | NotNull = Field(
        default=None, description="The score's band; computed when left out"
    )
    comment: Text | NotNull = None


class AssessmentOut(BaseModel):
    id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    year: int
    score: float
    grade: str
    comment: str | None
    version: int


class AssessmentPage(BaseModel):
    items: list[AssessmentOut]
    next_cursor: str | None


class AssessmentFilters(BaseModel):
    org: uuid.UUID | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)


__all__ = ["Jurisdiction"]
