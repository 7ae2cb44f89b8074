"""Composite rules: one class per kind of thing the regulations regulate.

Grouped in lifecycle order: approval, filings, funding, acceptance, evaluation and
sanctions, then the system catalogue (registry). Helpers here only do the rule's own
arithmetic; decisions belong to each service's ``domain.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, NonNegativeInt, model_validator

from shared.money import Yuan
from shared.policy.rules import (
    BOTH_DELIVERIES,
    AcceptanceCheckKey,
    AcceptanceDocument,
    Cited,
    Condition,
    Delivery,
    EscalationStep,
    EvaluationDimension,
    EvaluationMethod,
    ExactDecimal,
    ExplicitAbsence,
    Fact,
    GateTiming,
    MaterialId,
    NegativeListKey,
    OpinionTopic,
    PolicyModel,
    RectificationReason,
    Requirement,
    SanctionConsequence,
    SanctionTrigger,
)

# --- approval ---------------------------------------------------------------------


class MaterialRule(Cited):
    """An application material the unit must upload (DOMAIN.md material ids)."""

    material: MaterialId
    deliveries: tuple[Delivery, ...] = BOTH_DELIVERIES


class OpinionRule(Cited):
    """A written opinion that must exist before the authority decides."""

    topic: OpinionTopic
    issuer_zh: str


class ConsentStage(Cited):
    stage: Literal["plan", "application", "supervisor_filing", "acceptance_filing", "disbursement"]


class PartyGroupConsent(Requirement):
    """xinzhou-transport: the bureau's party group consents before each step."""

    stages: tuple[ConsentStage, ...] = Field(min_length=1)


class NegativeListItem(Requirement):
    """One category that is, in principle, not approved (leshan:8)."""

    item: int = Field(ge=1, le=10)
    key: NegativeListKey
    declared: bool  # False where the data shows it (item 8), so no declaration is asked

    @model_validator(mode="after")
    def _cites_its_own_clause(self) -> NegativeListItem:
        if not any(c.endswith(f".{self.item}") for c in self.citation):
            raise ValueError(f"negative-list item {self.item} must cite its own clause")
        return self


class MergedPlanRule(Cited):
    """When one implementation plan may replace feasibility study + preliminary design."""

    material: MaterialId = "implementation_plan"
    replaces: tuple[MaterialId, ...] = Field(min_length=1)
    deliveries: tuple[Delivery, ...] = BOTH_DELIVERIES
    max_total_investment: Yuan  # "不超过" — the threshold itself qualifies
    prerequisite: Requirement  # preparatory work deep enough; always needed
    grounds: tuple[Condition, ...] = Field(min_length=1)  # any one suffices

    def within_threshold(self, total_investment: Decimal) -> bool:
        return total_investment <= self.max_total_investment


class SelfAdjustmentRule(Cited):
    """A change the unit may make itself and file, without re-approval."""

    max_ratio: ExactDecimal = Field(gt=0, lt=1)  # of the approved total
    conditions: tuple[Condition, ...] = Field(min_length=1)  # all must hold
    grounds: tuple[Condition, ...] = Field(min_length=1)  # any one suffices
    file_with_zh: tuple[str, ...] = Field(min_length=1)

    def max_adjustment(self, approved_total: Decimal) -> Decimal:
        return approved_total * self.max_ratio


# --- filings ------------------------------------------------------------------------


class FilingRule(Cited):
    """A document lodged with the authority; ``workdays`` None means no deadline."""

    workdays: NonNegativeInt | None = None  # left out where the seed states no deadline
    counted_from: Literal["contract_signed", "supervisor_engaged", "acceptance_passed"]
    recipients_zh: tuple[str, ...] = Field(min_length=1)
    via_platform: bool = False  # reported on the management platform, not as a paper filing


# --- funding ------------------------------------------------------------------------


class GateItem(Requirement):
    """A fact that must hold before money of one category flows."""

    fact: Fact
    timing: GateTiming = "immediate"


class PublicNoticeRule(Cited):
    """The allocation plan is published before it takes effect.

    ``workdays`` is None where the regulation requires a notice but names no length:
    the funding service then takes the length from its configuration, never "at once".
    """

    workdays: NonNegativeInt | None = None
    by_zh: str


# --- acceptance ---------------------------------------------------------------------


class AcceptanceCheck(Requirement):
    """Something the acceptance filing must show (API.md acceptance booleans)."""

    check: AcceptanceCheckKey


class AcceptanceMaterial(Requirement):
    document: AcceptanceDocument
    deliveries: tuple[Delivery, ...] = BOTH_DELIVERIES


class Participant(PolicyModel):
    name_zh: str
    role_en: str


class JointAcceptance(Cited):
    participants: tuple[Participant, ...] = Field(min_length=1)
    preliminary_by_unit: bool  # the unit runs a preliminary acceptance first


# --- evaluation, sanctions, rectification -------------------------------------------


class SelfEvaluationRule(Cited):
    timing: Literal["after_budget_year", "after_go_live"]
    window_months: tuple[NonNegativeInt, NonNegativeInt] | None = None  # after go-live
    recipients_zh: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _window_is_ordered(self) -> SelfEvaluationRule:
        if self.window_months is not None and self.window_months[0] > self.window_months[1]:
            raise ValueError(f"{self.rule}: window {self.window_months} ends before it starts")
        return self


class PerformanceMonitoringRule(Cited):
    due: Literal["year_end"]
    during: Literal["implementation"]
    recipients_zh: tuple[str, ...] = Field(min_length=1)
    consult_zh: tuple[str, ...] = ()


class EfficacyEvaluationRule(Cited):
    methods: tuple[EvaluationMethod, ...] = Field(min_length=1)
    dimensions: tuple[EvaluationDimension, ...] = Field(min_length=1)


class Sanction(Requirement):
    """What befalls a project or its unit when something fails."""

    trigger: SanctionTrigger
    consequences: tuple[SanctionConsequence, ...] = Field(min_length=1)
    timing: GateTiming = "immediate"


class RectificationGround(Cited):
    reason: RectificationReason


class RectificationRule(Cited):
    """Grounds for a rectification order, and what escalation does."""

    ordered_by_zh: str
    grounds: tuple[RectificationGround, ...] = Field(min_length=1)
    escalation: tuple[EscalationStep, ...] = Field(min_length=1)

    @property
    def reasons(self) -> frozenset[str]:
        return frozenset(g.reason for g in self.grounds)

    @property
    def suspends_construction_funds(self) -> bool:
        # Suspending construction itself stops construction money too (leshan:47).
        return bool({"suspend_construction_funds", "suspend_construction"} & set(self.escalation))

    @property
    def suspends_operations_funds(self) -> bool:
        return "suspend_operations_funds" in self.escalation


# --- system catalogue (registry) ------------------------------------------------------


class CloudRule(Requirement):
    """Systems run on the government cloud; ``exempt`` needs a reason the seed allows."""

    exempt_allowed: bool
    exempt_grounds_zh: str | None = None
    exempt_grounds_en: str | None = None


class PrivateNetworkRule(Requirement):
    """No new private networks; ``consent_by_zh`` None means no consent route exists."""

    consent_by_zh: str | None = None


class RegistryRules(ExplicitAbsence):
    """What keeps a system from counting as catalogued, shared, on cloud and secure.

    Every field is None where the seed has no such rule; ``not_in_seed`` must name
    each of those, so an omission in a data file is never silent.
    """

    catalogue_first: Requirement | None = None
    data_sharing: Requirement | None = None
    government_cloud: CloudRule | None = None
    mlps: Requirement | None = None
    crypto_assessment: Requirement | None = None
    private_network: PrivateNetworkRule | None = None
    asset_registration: Requirement | None = None
