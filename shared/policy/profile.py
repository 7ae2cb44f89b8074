"""``PolicyProfile``: one regulation as typed, validated, frozen data.

Services read attributes (``profile.acceptance_filing_workdays``,
``profile.operations_gates``) and never branch on the profile id. Optional rules are
None where the seed has no such rule (each listed in the file's ``not_in_seed``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from pydantic import BaseModel, Field, model_validator

from shared.policy.citations import Citations, parse_citation
from shared.policy.rules import (
    Cited,
    Delivery,
    ExplicitAbsence,
    FundCategory,
    ProfileId,
    Requirement,
    Rule,
    SanctionTrigger,
)
from shared.policy.sections import (
    AcceptanceCheck,
    AcceptanceMaterial,
    EfficacyEvaluationRule,
    FilingRule,
    GateItem,
    JointAcceptance,
    MaterialRule,
    MergedPlanRule,
    NegativeListItem,
    OpinionRule,
    PartyGroupConsent,
    PerformanceMonitoringRule,
    PublicNoticeRule,
    RectificationRule,
    RegistryRules,
    Sanction,
    SelfAdjustmentRule,
    SelfEvaluationRule,
)


class PolicyProfile(ExplicitAbsence):
    # identity of the regulation
    id: ProfileId
    version: str = Field(pattern=r"^\d{4}-\d+$")
    name_zh: str
    issuer_zh: str
    document: str | None = None  # 文号; leshan's notice carries none
    issued_on: date
    effective_from: date
    effective_citation: Citations
    validity_years: Rule[int] | None = None

    # approval
    required_materials: tuple[MaterialRule, ...]
    resource_catalogue_required: Requirement | None = None
    required_opinions: tuple[OpinionRule, ...]
    party_group_consent: PartyGroupConsent | None = None
    negative_list: tuple[NegativeListItem, ...]
    merged_implementation_plan: MergedPlanRule | None = None
    isolated_systems_refused: Requirement | None = None
    build_before_approval_forbidden: Requirement | None = None

    # filings
    contract_filing: FilingRule | None = None
    supervisor_filing: FilingRule | None = None
    acceptance_filing: FilingRule

    # construction and change
    progress_reporting: Requirement | None = None
    change_application: Requirement | None = None
    self_adjustment: SelfAdjustmentRule | None = None
    termination_on_external_change: Requirement | None = None

    # acceptance
    trial_run_months: Rule[int] | None = None
    acceptance_checks: tuple[AcceptanceCheck, ...]
    acceptance_materials: tuple[AcceptanceMaterial, ...]
    joint_acceptance: JointAcceptance | None = None
    acceptance_delay_application: Requirement | None = None
    source_code_handover: Requirement | None = None

    # funding
    construction_gates: tuple[GateItem, ...]
    operations_gates: tuple[GateItem, ...]
    allocation_public_notice: PublicNoticeRule | None = None
    operations_budget_review: Requirement | None = None
    leased_line_price_cap: Requirement | None = None

    # evaluation, sanctions and rectification
    self_evaluation: SelfEvaluationRule | None = None
    performance_monitoring: PerformanceMonitoringRule | None = None
    efficacy_evaluation: EfficacyEvaluationRule | None = None
    post_evaluation: Requirement | None = None
    unit_assessment: Requirement | None = None
    sanctions: tuple[Sanction, ...]
    rectification: RectificationRule
    incident_plan: Requirement | None = None

    # the system catalogue
    registry: RegistryRules

    # --- the names services read -------------------------------------------------------

    @property
    def contract_filing_workdays(self) -> Rule[int] | None:
        return _deadline(self.contract_filing)

    @property
    def supervisor_filing_required(self) -> bool:
        return self.supervisor_filing is not None

    @property
    def acceptance_filing_workdays(self) -> Rule[int] | None:
        """None where acceptance is only reported (leshan:31); see ``acceptance_filing``."""
        return _deadline(self.acceptance_filing)

    def gates(self, category: FundCategory) -> tuple[GateItem, ...]:
        return self.construction_gates if category == "construction" else self.operations_gates

    def materials_for(self, delivery: Delivery, *, merged: bool = False) -> tuple[str, ...]:
        """Material ids an application must carry; ``merged`` when the merged plan is used."""
        needed = [m.material for m in self.required_materials if delivery in m.deliveries]
        plan = self.merged_implementation_plan
        if merged and plan is not None and delivery in plan.deliveries:
            needed = [m for m in needed if m not in plan.replaces] + [plan.material]
        return tuple(needed)

    def sanction(self, trigger: SanctionTrigger) -> Sanction | None:
        return next((s for s in self.sanctions if s.trigger == trigger), None)

    def cited(self) -> Iterator[Cited]:
        """Every cited rule in the profile, however deeply nested."""
        yield from _walk(self)

    def citations(self) -> frozenset[str]:
        found = {c for rule in self.cited() for c in rule.citation}
        return frozenset(found | set(self.effective_citation))

    # --- whole-profile checks -----------------------------------------------------------

    @model_validator(mode="after")
    def _cites_only_itself(self) -> PolicyProfile:
        foreign = sorted(c for c in self.citations() if parse_citation(c).profile != self.id)
        if foreign:
            raise ValueError(f"profile {self.id} cites other profiles: {', '.join(foreign)}")
        return self

    @model_validator(mode="after")
    def _lists_have_no_duplicates(self) -> PolicyProfile:
        keyed: dict[str, list[object]] = {
            "construction_gates": [g.fact for g in self.construction_gates],
            "operations_gates": [g.fact for g in self.operations_gates],
            "negative_list items": [n.item for n in self.negative_list],
            "negative_list keys": [n.key for n in self.negative_list],
            "required_materials": [m.material for m in self.required_materials],
            "required_opinions": [o.topic for o in self.required_opinions],
            "sanctions": [s.trigger for s in self.sanctions],
        }
        for what, keys in keyed.items():
            if len(keys) != len(set(keys)):
                raise ValueError(f"profile {self.id}: duplicate {what}: {keys}")
        return self


def _deadline(filing: FilingRule | None) -> Rule[int] | None:
    if filing is None or filing.workdays is None:
        return None
    return Rule[int](value=filing.workdays, citation=filing.citation, note=filing.note)


def _walk(node: object) -> Iterator[Cited]:
    if isinstance(node, Cited):
        yield node
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _walk(getattr(node, name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
