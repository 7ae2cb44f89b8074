"""The funding service's public contract (API.md "Funding"): request and response bodies.

Unknown fields are refused; money is a decimal string (or number) with at most two
places and is written back as a string; years are JSON integers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.money import Yuan
from shared.text import Text

Category = Literal["construction", "operations"]
Amount = Annotated[Yuan, Field(gt=Decimal("0"))]
Year = Annotated[StrictInt, Field(ge=2000, le=2100)]
Workdays = Annotated[StrictInt, Field(ge=0, le=60)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DisbursementCreate(Body):
    project_id: uuid.UUID
    category: Category
    amount: Amount
    year: Year


class ReturnCreate(Body):
    project_id: uuid.UUID
    category: Category
    amount: Amount
    reason: Text
    year: Year | None = Field(
        None,
        description="The budget year the money returns to; default: the latest year"
        " with that much disbursed in the category.",
    )


class PlanItem(Body):
    project_id: uuid.UUID
    category: Category
    amount: Amount


class PlanCreate(Body):
    year: Year
    items: list[PlanItem] = Field(min_length=1, max_length=500)
    published_on: date | None = None


class NoticeSettingIn(Body):
    workdays: Workdays


# --- answers ---------------------------------------------------------------------------


class ViolationOut(BaseModel):
    rule: str
    message_zh: str
    message_en: str


class GateOut(BaseModel):
    open: bool
    violations: list[ViolationOut]


class Gates(BaseModel):
    construction: GateOut
    operations: GateOut


class EventRef(BaseModel):
    type: str
    id: str
    time: datetime | None


class FactOut(BaseModel):
    value: bool
    event: EventRef | None


class YearLine(BaseModel):
    year: int
    category: Category
    approved: str
    allocated: str
    in_notice: str
    disbursed: str
    remaining: str


class ProjectMoneyOut(BaseModel):
    project_id: uuid.UUID
    profile: str
    profile_version: str
    status: str
    approved_total: str | None
    allocated: str
    disbursed: str
    remaining: str | None
    by_year: list[YearLine]
    gates: Gates
    facts: dict[str, FactOut]


class MovementOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    kind: Literal["disbursement", "return"]
    status: Literal["disbursed", "returned"]
    category: Category
    year: int
    amount: str
    reason: str | None
    created_at: datetime


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_cursor: str | None


class PlanItemOut(BaseModel):
    project_id: uuid.UUID
    category: Category
    amount: str


class PlanOut(BaseModel):
    id: uuid.UUID
    status: Literal["in_notice", "effective"]
    year: int
    published_on: date
    effective_on: date
    notice_workdays: int
    items: list[PlanItemOut]


class DeadlineOut(BaseModel):
    type: str
    rule: str
    counted_from: date
    opens_on: date | None
    due_on: date | None


class WhatIfOut(BaseModel):
    project_id: uuid.UUID
    year: int
    gates: Gates
    opens: list[Category]
    deadlines: list[DeadlineOut]
    still_blocking: list[ViolationOut]


class NoticeSettingOut(BaseModel):
    profile: str
    workdays: int
    source: Literal["profile", "administrator", "default", "none"]
    rule: str | None
    note: str


class DisbursementOut(MovementOut):
    disbursed_total: str
