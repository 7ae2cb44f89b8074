"""The filing service's public contract (API.md "Filing"): request and response bodies.

Unknown fields are refused; booleans are JSON booleans; money is a decimal string.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.filing.domain import FilingType, ObligationStatus, ObligationType, missing_fields
from shared.money import Yuan
from shared.policy.rules import AcceptanceDocument
from shared.text import MultilineText, Name, ShortText, Text

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Period = Annotated[str, Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")]
Year = Annotated[int, Field(ge=1900, le=2200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# leshan:31: the documents an acceptance filing carries (every profile's acceptance
# materials are named from these); other filing types' documents are named freely.
ACCEPTANCE_DOCUMENT_TYPES: tuple[str, ...] = get_args(AcceptanceDocument)
_ANY_DOCUMENT_TYPE = TypeAdapter(ShortText).json_schema()
DocumentType = Annotated[
    ShortText,
    WithJsonSchema(
        {
            "title": "Type",
            "description": "An `acceptance` filing's documents are of the leshan:31 types"
            " (the first form; another is refused with a 422); another"
            " filing type's documents are named freely (the second form).",
            "anyOf": [
                {"type": "string", "enum": list(ACCEPTANCE_DOCUMENT_TYPES)},
                _ANY_DOCUMENT_TYPE,
            ],
        }
    ),
]


class Document(Body):
    type: DocumentType
    title: Name
    sha256: Sha256


class FilingCreate(Body):
    project_id: uuid.UUID
    type: FilingType
    event_date: date
    filed_on: date | None = None  # today (Asia/Shanghai) when left out
    documents: list[Document] = Field(min_length=1, max_length=50)
    # acceptance
    passed: StrictBool | None = None
    trial_run_started_on: date | None = None
    catalogue_joined: StrictBool | None = None
    secure_controllable: StrictBool | None = None
    # self_evaluation, performance_monitoring (the year), progress (2026, 2026-07, 2026-Q3)
    period: Period | None = None
    # progress (linfen-water:18)
    percent_complete: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] | None = None
    spent_to_date: Yuan | None = None
    issues: MultilineText | None = None
    # acceptance_delay (leshan:31)
    requested_until: date | None = None
    reason: MultilineText | None = None

    @model_validator(mode="after")
    def _acceptance_documents(self) -> FilingCreate:
        """An acceptance filing's documents are of the leshan:31 types (API.md). Checked
        once its required fields are there (else ``filing_fields_missing`` answers
        first, as for every type)."""
        if self.type == "acceptance" and not missing_fields(self.type, self.__dict__):
            others = sorted({d.type for d in self.documents} - set(ACCEPTANCE_DOCUMENT_TYPES))
            if others:
                raise PydanticCustomError(
                    "acceptance_document_type",
                    "documents: an acceptance filing's documents are of the leshan:31 types"
                    " ({allowed}), not {others}",
                    {"allowed": ", ".join(ACCEPTANCE_DOCUMENT_TYPES), "others": ", ".join(others)},
                )
        return self


class ReviewCreate(Body):
    verdict: Literal["agreed", "refused"]
    comment: Text | None = None


class AcceptanceCreate(Body):
    project_id: uuid.UUID
    accepted_on: date
    passed: StrictBool
    opinion: MultilineText | None = None


class CalendarLoad(Body):
    holidays: list[date] = Field(min_length=1, max_length=366)
    workdays: list[date] = Field(default_factory=list, max_length=366)
    source: Text | None = None


# --- answers ------------------------------------------------------------------------


class ObligationOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    type: ObligationType
    period: str
    rule: str
    due_on: date | None
    status: ObligationStatus
    met_by: uuid.UUID | None
    version: int


class ObligationBrief(BaseModel):
    id: uuid.UUID
    type: ObligationType
    due_on: date | None
    status: ObligationStatus


class ObligationPage(BaseModel):
    items: list[ObligationOut]
    next_cursor: str | None


class Review(BaseModel):
    verdict: Literal["agreed", "refused"]
    comment: str | None
    reviewed_on: date
    reviewed_by: str


class FilingOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    type: FilingType
    event_date: date
    filed_on: date
    due_on: date | None
    on_time: bool | None
    obligation_id: uuid.UUID | None
    documents: list[Document]
    passed: bool | None
    trial_run_started_on: date | None
    catalogue_joined: bool | None
    secure_controllable: bool | None
    details: dict[str, str | None]
    review: Review | None
    version: int


class FilingPage(BaseModel):
    items: list[FilingOut]
    next_cursor: str | None


class ReviewOut(BaseModel):
    filing: FilingOut
    obligation: ObligationOut | None


class AcceptanceOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    accepted_on: date
    passed: bool
    opinion: str | None
    obligation: ObligationBrief | None
    version: int


class WorkdaysOut(BaseModel):
    start: date
    days: int
    due_on: date


class CalendarYearOut(BaseModel):
    year: int
    source: Literal["library", "loaded"]
    notice: str | None
    holidays: list[date]
    workdays: list[date]


class Recomputed(BaseModel):
    obligation_id: uuid.UUID
    project_id: uuid.UUID
    type: ObligationType
    before: date | None
    after: date | None
    status: ObligationStatus


class CalendarLoaded(CalendarYearOut):
    version: int
    recomputed: list[Recomputed]
