"""The building blocks every profile section is made of, and the shared vocabularies.

Vocabularies are ``Literal`` types so a typo in a data file fails at load time, and
so services can use the same names in their own schemas.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.errors import Violation
from shared.policy.citations import Citations

ProfileId = Literal["linfen-water", "xiangfen", "xinzhou-transport", "leshan", "jincheng"]

# Facts a funding gate can require (the funding service keeps a projection of each).
Fact = Literal[
    "systems_catalogued",
    "contract_filed",
    "supervisor_filed",
    "acceptance_filed",
    "acceptance_passed",
    "evaluation_result_filed",
    "data_shared",
    "cloud_migrated",
    "security_compliant",
]
# immediate: the fact must hold when money is released;
# after_acceptance: only money released after acceptance ("后续建设资金") is gated;
# next_budget_year: a failure in one budget year closes the gate for the next year's money.
GateTiming = Literal["immediate", "after_acceptance", "next_budget_year"]
FundCategory = Literal["construction", "operations"]

MaterialId = Literal[
    "proposal",
    "feasibility_study",
    "preliminary_design",
    "investment_estimate",
    "implementation_plan",
    "service_requirements",
    # xinzhou-transport:7, 10: the party group's written consent (党组同意), attached to
    # the application before it goes to the authority (PolicyProfile.party_group_consent).
    "party_group_consent",
]
Delivery = Literal["self_build", "purchase_service"]
BOTH_DELIVERIES: tuple[Delivery, ...] = ("self_build", "purchase_service")
OpinionTopic = Literal["cyberspace", "crypto", "public_security", "finance", "technical"]

AcceptanceDocument = Literal[
    "construction_summary",
    "financial_report",
    "audit_report",
    "sharing_report",
    "test_report",
    "security_assessment",
    "crypto_assessment",
]
AcceptanceCheckKey = Literal["catalogue_joined", "secure_controllable"]

NegativeListKey = Literal[
    "new_datacenter_or_hardware",
    "dedicated_line_lease",
    "not_on_government_cloud",
    "new_common_system",
    "not_joined_sharing_or_service_platform",
    "unclear_needs_or_goals",
    "non_shared_infrastructure",
    "upgrade_before_acceptance",
    "duplicates_higher_level_system",
    "unregistered_assets",
]

RectificationReason = Literal[
    "built_against_approval",
    "unauthorised_change",
    "acceptance_delayed",
    "data_not_shared",
    "security_noncompliant",
]
EscalationStep = Literal[
    "suspend_construction_funds",
    "suspend_operations_funds",
    "suspend_construction",
    "defer_investment_plan",
    "public_criticism",
    "terminate",
]
SanctionTrigger = Literal["acceptance_failed", "data_not_shared", "security_noncompliant"]
SanctionConsequence = Literal[
    "no_operations_funds", "no_cloud_resources", "no_new_projects", "no_new_systems"
]
EvaluationMethod = Literal["document_review", "third_party", "questionnaire"]
EvaluationDimension = Literal[
    "support_capacity",
    "user_satisfaction",
    "efficiency_gain",
    "sustainability",
    "security_reliability",
]


def _no_float(value: object) -> object:
    # TOML floats are binary: 0.15 must be written "0.15" so it stays exact.
    if isinstance(value, float):
        raise ValueError('write decimals as strings, e.g. "0.15", never as floats')
    return value


ExactDecimal = Annotated[Decimal, BeforeValidator(_no_float)]


class PolicyModel(BaseModel):
    """Frozen and strict about keys: a misspelt key in a data file is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Cited(PolicyModel):
    """Anything the regulations say; the first citation is the primary one."""

    citation: Citations
    note: str | None = None  # why the data reads this way, where the seed needs a word

    @property
    def rule(self) -> str:
        return self.citation[0]


T = TypeVar("T")


class Rule(Cited, Generic[T]):
    """A single cited value: a number of working days, of months, of years."""

    value: T

    @model_validator(mode="after")
    def _counts_are_never_negative(self) -> Rule[T]:
        if isinstance(self.value, int | Decimal) and not isinstance(self.value, bool):
            if self.value < 0:
                raise ValueError(f"{self.rule}: a count cannot be negative ({self.value})")
        return self


class Requirement(Cited):
    """A duty or refusal that a service may report as a violation."""

    message_zh: str = Field(min_length=1)
    message_en: str = Field(min_length=1)

    def violation(self) -> Violation:
        return Violation(self.rule, self.message_zh, self.message_en)


class Condition(Requirement):
    """One named condition of a composite rule (e.g. a ground for merging plans)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class ExplicitAbsence(PolicyModel):
    """A section whose optional rules are None only when ``not_in_seed`` says so.

    TOML has no null, so a rule the seed lacks is left out of the file; naming it in
    ``not_in_seed`` tells a deliberate absence from a forgotten one.
    """

    not_in_seed: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _absences_are_explicit(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        optional = {
            name
            for name, field in cls.model_fields.items()
            if name != "not_in_seed" and not field.is_required() and field.default is None
        }
        declared = set(data.get("not_in_seed", ()))
        present = {name for name in optional if data.get(name) is not None}
        problems = [
            *(f"{n}: not an optional rule" for n in sorted(declared - optional)),
            *(f"{n}: given and listed in not_in_seed" for n in sorted(declared & present)),
            *(
                f"{n}: missing; give it or list it in not_in_seed"
                for n in sorted(optional - present - declared)
            ),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return data
