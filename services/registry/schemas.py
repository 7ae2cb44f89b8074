"""The registry's public contract (API.md "Registry"): request and response bodies.

Unknown fields are refused (a typo is an error, not a silent no-op). Text goes
through the shared validator (``shared.text``: NFC, no invisible or bidi characters,
bounded), and JSON bodies are strict: ``mlps_level`` is a JSON integer and the flags
are JSON booleans (``"3"``, ``3.0``, ``true`` or ``"yes"`` are refused, not coerced).
Query parameters (``SystemFilters``) stay lax: on the wire they are all strings.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from pydantic.json_schema import SkipJsonSchema

from services.registry.domain import Cloud, Network, OpenType, ShareType, Status
from shared.policy.rules import ProfileId as Jurisdiction
from shared.text import Name, ShortText, Text, TextRules

MlpsLevel = Annotated[StrictInt, Field(ge=1, le=5)]
SearchText = Annotated[str, TextRules(max_length=100, min_length=0)]
NotNull = SkipJsonSchema[None]  # the default "left out", never a value a client sends


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- units --------------------------------------------------------------------------


class UnitCreate(Body):
    name: Name
    jurisdiction: Jurisdiction
    parent: uuid.UUID | None = None


class UnitOut(BaseModel):
    id: uuid.UUID
    name: str
    jurisdiction: str
    parent: uuid.UUID | None
    created_at: datetime


class UnitList(BaseModel):
    items: list[UnitOut]


# --- systems ------------------------------------------------------------------------


class SystemCreate(Body):
    name: Name
    org: uuid.UUID
    status: Status
    network: Network
    cloud: Cloud
    cloud_exempt_reason: Text | None = None
    private_network_approval: Text | None = Field(
        default=None, description="The authority's consent to a private network (reference)."
    )
    sharing_connected: StrictBool = False
    mlps_level: MlpsLevel | None = None
    crypto_assessed: StrictBool = False
    asset_registered: StrictBool = False


class SystemPatch(Body):
    """Only the fields sent are changed; ``org`` is fixed once catalogued."""

    # ``NotNull`` fields may be left out but not sent as null (``_not_null``), so the
    # OpenAPI document does not offer null for them.
    name: Name | NotNull = None
    status: Status | NotNull = None
    network: Network | NotNull = None
    cloud: Cloud | NotNull = None
    cloud_exempt_reason: Text | None = None
    private_network_approval: Text | None = None
    sharing_connected: StrictBool | NotNull = None
    mlps_level: MlpsLevel | None = None
    crypto_assessed: StrictBool | NotNull = None
    asset_registered: StrictBool | NotNull = None

    @field_validator(
        "name",
        "status",
        "network",
        "cloud",
        "sharing_connected",
        "crypto_assessed",
        "asset_registered",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out means "unchanged"; an explicit null would reach a NOT NULL column.
        if value is None:
            raise ValueError("may be left out, but not set to null")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class FactsOut(BaseModel):
    catalogued: bool
    data_shared: bool
    on_cloud: bool
    secure: bool


class SystemOut(BaseModel):
    id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    name: str
    status: Status
    network: Network
    cloud: Cloud
    cloud_exempt_reason: str | None
    private_network_approval: str | None
    sharing_connected: bool
    mlps_level: int | None
    crypto_assessed: bool
    asset_registered: bool
    resource_count: int
    facts: FactsOut
    version: int
    created_at: datetime
    updated_at: datetime


class SystemPage(BaseModel):
    items: list[SystemOut]
    next_cursor: str | None


class SystemFilters(BaseModel):
    """The list filters (also the export's)."""

    model_config = ConfigDict(extra="forbid")

    org: uuid.UUID | None = None
    status: Status | None = None
    cloud: Cloud | None = None
    network: Network | None = None
    sharing_connected: bool | None = None
    q: SearchText | None = None


# --- resources ----------------------------------------------------------------------


class ResourceCreate(Body):
    name: Name
    source: Text
    format: ShortText
    update_frequency: ShortText
    share_type: ShareType
    open_type: OpenType


class ResourceOut(BaseModel):
    id: uuid.UUID
    system_id: uuid.UUID
    name: str
    source: str
    format: str
    update_frequency: str
    share_type: ShareType
    open_type: OpenType
    created_at: datetime


class ResourceList(BaseModel):
    items: list[ResourceOut]


# --- history, compliance, import --------------------------------------------------------


class FieldChange(BaseModel):
    """One field's change in a revision: its value before and after."""

    before: Any = Field(description="The value before (null when the record was created).")
    after: Any = Field(description="The value after.")


class HistoryItem(BaseModel):
    at: datetime
    actor: str
    changes: dict[str, FieldChange] = Field(
        description="`{field: {before, after}}` for each field the revision changed."
    )


class History(BaseModel):
    items: list[HistoryItem]


class ViolationOut(BaseModel):
    rule: str
    message_zh: str
    message_en: str


class ComplianceOut(BaseModel):
    system_id: uuid.UUID
    profile: str
    facts: FactsOut
    violations: list[ViolationOut]


class ImportResult(BaseModel):
    imported: int
    created: int
    updated: int
    unchanged: int
    encoding: str | None = Field(
        default=None,
        description="The CSV text encoding that was read (utf-8, utf-16-le, utf-16-be,"
        " gb18030); null for XLSX.",
    )


class ImportProblem(BaseModel):
    row: int | None = Field(
        description="The sheet's row number (the header is row 1); null for a refusal of"
        " the whole file."
    )
    column: str | None = Field(description="The column; null for a refusal of the whole file.")
    message: str
    message_zh: str
    code: str | NotNull = Field(
        default=None,
        description="Only for a refusal of the whole file: its code (`too_many_rows`,"
        " `too_many_columns`, `archive_too_large`, `cell_too_long`, `import_failed`...).",
    )


class ImportStatus(BaseModel):
    """A background import (``Prefer: respond-async``), as ``GET /imports/{id}`` reads it."""

    id: uuid.UUID
    state: Literal["queued", "running", "done", "refused"]
    imported: int = Field(description="Rows imported (created or updated); 0 until done.")
    errors: list[ImportProblem] = Field(
        description="Why it was refused (empty otherwise): the rows' errors exactly as the"
        " synchronous 422 `import_invalid` lists them (at most 1,000), or one error for"
        " the whole file."
    )
    error_count: int = Field(description="All the errors, also those past the first 1,000.")
    encoding: str | None = Field(
        description="The CSV text encoding that was read; null for XLSX or until done."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
