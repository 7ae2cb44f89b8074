"""Approval's public contract (API.md "Approval"): request and response bodies.

Unknown fields are refused, text goes through the shared validator, money is a
decimal string of at most two places (``shared.money.Yuan``), flags are JSON
booleans and years JSON integers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from services.approval.domain import Classification, Delivery, Kind, MergedPlanGround, Status
from shared.money import Yuan
from shared.policy.rules import MaterialId, OpinionTopic
from shared.text import MultilineText, Name

Year = Annotated[StrictInt, Field(ge=2000, le=2100)]


def _decimal_string(value: object) -> object:
    # API.md: money is a decimal string; a JSON number would carry float noise.
    if not isinstance(value, str):
        raise ValueError('money is a decimal string of yuan, e.g. "1234.50"')
    return value


Money = Annotated[
    Yuan,
    BeforeValidator(_decimal_string),
    WithJsonSchema({"type": "string", "pattern": r"^(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?$"}),
]
Score = Annotated[StrictInt, Field(ge=0, le=100)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(Body):
    year: Year
    amount: Money


class Declarations(Body):
    """leshan:8: one flag per negative-list item the data cannot show (item 8 it can)."""

    new_datacenter_or_hardware: StrictBool = False
    dedicated_line_lease: StrictBool = False
    not_on_government_cloud: StrictBool = False
    new_common_system: StrictBool = False
    not_joined_sharing_or_service_platform: StrictBool = False
    unclear_needs_or_goals: StrictBool = False
    non_shared_infrastructure: StrictBool = False
    duplicates_higher_level_system: StrictBool = False
    unregistered_assets: StrictBool = False


class ProjectCreate(Body):
    name: Name
    org: uuid.UUID
    delivery: Delivery
    kind: Kind
    total_investment: Money
    annual_budgets: list[Budget] = Field(min_length=1, max_length=20)
    system_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)
    co_orgs: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    declarations: Declarations = Field(default_factory=Declarations)
    planned_completion_on: date | None = None
    merged_plan_ground: MergedPlanGround | None = Field(
        default=None,
        description="leshan:18.1/18.2: the merged implementation plan is allowed above"
        " 5,000,000.00 yuan when mandated or urgent.",
    )


class MaterialCreate(Body):
    type: MaterialId
    title: Name
    sha256: Sha256


class OpinionCreate(Body):
    topic: OpinionTopic
    verdict: Literal["agree", "agree_with_conditions", "disagree"]
    comment: MultilineText


class ReviewCreate(Body):
    need: Score
    intensiveness: Score
    feasibility: Score
    budget: Score
    performance_goals: Score
    comment: MultilineText


class DecisionCreate(Body):
    outcome: Literal["approved", "rejected"]
    approved_total: Money | None = None
    approved_annual_budgets: list[Budget] = Field(default_factory=list, max_length=20)
    reasons: MultilineText | None = None
    planned_completion_on: date | None = None

    @model_validator(mode="after")
    def _outcome_needs(self) -> DecisionCreate:
        if self.outcome == "approved" and (
            self.approved_total is None or not self.approved_annual_budgets
        ):
            raise ValueError("an approval states approved_total and approved_annual_budgets")
        if self.outcome == "rejected" and not self.reasons:
            raise ValueError("a rejection states its reasons")
        return self


class ChangeCreate(Body):
    new_total: Money
    adjusted_amount: Money = Field(description="Money moved between contents.")
    goals_changed: StrictBool
    content: MultilineText
    reason: MultilineText
    annual_budgets: list[Budget] | None = Field(
        default=None,
        max_length=20,
        description="The annual budgets after the change (adding up to new_total); needed"
        " when a major change moves the total.",
    )
    already_carried_out: StrictBool = Field(
        default=False, description="leshan:28: the change was made before approval."
    )


class ChangeDecisionCreate(Body):
    outcome: Literal["approved", "rejected"]
    comment: MultilineText | None = None


class TerminateCreate(Body):
    reason: MultilineText


# --- answers ------------------------------------------------------------------------


class BudgetOut(BaseModel):
    year: int
    amount: str


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    org: uuid.UUID
    lead_org: uuid.UUID
    co_orgs: list[uuid.UUID]
    jurisdiction: str
    profile: str
    profile_version: str
    number: str | None
    status: Status
    delivery: Delivery
    kind: Kind
    total_investment: str
    annual_budgets: list[BudgetOut]
    approved_total: str | None
    approved_annual_budgets: list[BudgetOut]
    system_ids: list[uuid.UUID]
    declarations: dict[str, bool]
    merged_plan_ground: str | None
    planned_completion_on: date | None
    approved_on: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class MaterialOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    type: str
    title: str
    sha256: str
    created_at: datetime


class OpinionOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    topic: str
    verdict: str
    comment: str
    actor: str
    created_at: datetime


class ReviewOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    need: int
    intensiveness: int
    feasibility: int
    budget: int
    performance_goals: int
    comment: str
    actor: str
    created_at: datetime


class ChangeOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    classification: Classification
    status: Literal["recorded", "pending", "approved", "rejected"]
    rule: str | None
    new_total: str
    adjusted_amount: str
    goals_changed: bool
    content: str
    reason: str
    annual_budgets: list[BudgetOut] | None
    created_at: datetime
    decided_at: datetime | None


class AssessmentOut(BaseModel):
    id: uuid.UUID
    year: int
    score: str | None
    grade: str | None
    comment: str | None


class ProjectDetail(ProjectOut):
    materials: list[MaterialOut]
    opinions: list[OpinionOut]
    reviews: list[ReviewOut]
    changes: list[ChangeOut]
    required_opinions: list[str] = Field(description="Topics the profile requires (leshan:22).")
    unit_assessment: AssessmentOut | None = Field(
        description="The lead unit's latest annual assessment (xiangfen:30)."
    )


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


class SubmitOut(BaseModel):
    id: uuid.UUID
    status: Status
    version: int


class HistoryItem(BaseModel):
    at: datetime
    actor: str
    action: str
    rule: str | None
    cause: str | None
    changes: dict[str, Any]


class History(BaseModel):
    items: list[HistoryItem]


class ProjectFilters(BaseModel):
    org: uuid.UUID | None = None
    status: Status | None = None
