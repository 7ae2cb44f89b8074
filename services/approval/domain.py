"""Approval's rules, pure: no I/O, no framework; dates, facts and profiles passed in.

A refusal is a ``Violation`` citing the project's regulation (``leshan:29``) where an
article governs it, or an ``approval:<rule>`` id where none does (the lifecycle, the
arithmetic of budgets); the caller picks the HTTP status.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from shared.auth.access import Ownership
from shared.errors import Violation
from shared.policy import PolicyProfile
from shared.policy.sections import ConsentStage

Status = Literal[
    "draft",
    "submitted",
    "approved",
    "rejected",
    "in_construction",
    "accepted",
    "in_operation",
    "suspended",
    "terminated",
]
Delivery = Literal["self_build", "purchase_service"]
Kind = Literal["new", "upgrade", "operations"]
Classification = Literal["self_adjustment", "major_change"]
MergedPlanGround = Literal["mandated", "urgent"]

STATUSES: tuple[Status, ...] = (
    "draft",
    "submitted",
    "approved",
    "rejected",
    "in_construction",
    "accepted",
    "in_operation",
    "suspended",
    "terminated",
)
# A project is its lead unit's; co-builders read it (docs/access.md).
PROJECTS = Ownership(org="org_id", co_owners="co_orgs")

# --- the lifecycle ----------------------------------------------------------------------

# No article draws the lifecycle as a whole: these are approval's own rule ids.
LIFECYCLE = "approval:lifecycle"
FINAL = "approval:final"
RESUME = "approval:resume-where-suspended"

# Statuses a project under construction or running may be in (it was approved).
LIVE: frozenset[Status] = frozenset({"approved", "in_construction", "accepted", "in_operation"})
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    "draft": frozenset({"submitted"}),
    "submitted": frozenset({"approved", "rejected"}),
    # contract filed; acceptance passed; acceptance report filed (passed) may come
    # without an earlier step's event (a unit that files both at once).
    "approved": frozenset(
        {"in_construction", "accepted", "in_operation", "suspended", "terminated"}
    ),
    "in_construction": frozenset({"accepted", "in_operation", "suspended", "terminated"}),
    "accepted": frozenset({"in_operation", "suspended", "terminated"}),
    "in_operation": frozenset({"suspended", "terminated"}),
    # resumed to where it was (``resume_violation``), or terminated
    "suspended": LIVE | {"terminated"},
    "rejected": frozenset(),
    "terminated": frozenset(),
}


def may_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())  # type: ignore[call-overload]


def transition_violation(current: str, new: str) -> Violation | None:
    """Why ``current → new`` is refused, or None when the lifecycle allows it."""
    if may_move(current, new):
        return None
    if current in ("rejected", "terminated"):
        return Violation(
            FINAL,
            f"项目已{_ZH[current]}，状态不再变更（审批服务规则）",
            f"a {current} project is final; it does not become {new}",
        )
    return Violation(
        LIFECYCLE,
        f"项目状态不能从{_ZH.get(current, current)}变为{_ZH.get(new, new)}（审批服务规则）",
        f"a project cannot go from {current} to {new}",
    )


def resume_violation(suspended_from: str | None, new: str) -> Violation | None:
    """A suspended project resumes to the status it was suspended in, nothing else."""
    if new == "terminated" or new == suspended_from:
        return None
    return Violation(
        RESUME,
        f"暂停的项目只能恢复到暂停前的状态（{suspended_from}）",
        f"a suspended project resumes to {suspended_from}, not {new}",
    )


_ZH = {
    "draft": "草稿",
    "submitted": "已申报",
    "approved": "已批复",
    "rejected": "不予批复",
    "in_construction": "建设中",
    "accepted": "已验收",
    "in_operation": "运行中",
    "suspended": "暂停",
    "terminated": "终止",
}


# --- the pre-screen ---------------------------------------------------------------------

SYSTEM_UNKNOWN = "approval:system-catalogued"  # where the profile has no catalogue-first rule
SYSTEM_OF_OTHERS = "approval:system-of-project-units"
BUDGETS_ADD_UP = "approval:budgets-add-up"


@dataclass(frozen=True)
class SystemFacts:
    """What approval knows of a system from the registry's events."""

    id: uuid.UUID
    org: uuid.UUID
    jurisdiction: str
    status: str
    resource_count: int
    catalogued: bool
    # The registry's fact: connected to the sharing exchange and sharing at least one of
    # its resources (registry ``facts.data_shared`` = sharing_connected and a shared
    # resource); False makes it an isolated system (``isolated_system_violations``).
    data_shared: bool


@dataclass(frozen=True)
class SanctionFact:
    trigger: str
    rule: str
    from_year: int
    until_year: int | None

    def applies_in(self, year: int) -> bool:
        return self.from_year <= year and (self.until_year is None or year <= self.until_year)


@dataclass(frozen=True)
class Application:
    """The project as the pre-screen reads it."""

    org: uuid.UUID
    co_orgs: tuple[uuid.UUID, ...]
    jurisdiction: str
    delivery: str
    kind: str
    total_investment: Decimal
    annual_budgets: tuple[tuple[int, Decimal], ...]
    system_ids: tuple[uuid.UUID, ...]
    declarations: Mapping[str, bool] = field(default_factory=dict)
    merged_plan_ground: str | None = None
    materials: frozenset[str] = frozenset()


def prescreen(
    app: Application,
    profile: PolicyProfile,
    systems: Mapping[uuid.UUID, SystemFacts],
    sanctions: Iterable[SanctionFact],
    *,
    upgrades_unaccepted: bool,
    today: date,
) -> list[Violation]:
    """Every reason the application cannot be submitted, at once, each cited.

    ``systems``: the projection's entries for the project's systems (missing ones are
    unknown); ``upgrades_unaccepted``: the data shows an approved project on these
    systems that has not passed acceptance (leshan:8 item 8).
    """
    return [
        *system_violations(app, profile, systems),
        *isolated_system_violations(app, profile, systems),
        *material_violations(app, profile),
        *consent_violations(app, profile),
        *budget_violations(app.total_investment, app.annual_budgets),
        *negative_list_violations(app, profile, upgrades_unaccepted=upgrades_unaccepted),
        *sanction_violations(profile, sanctions, today.year),
    ]


def system_violations(
    app: Application, profile: PolicyProfile, systems: Mapping[uuid.UUID, SystemFacts]
) -> list[Violation]:
    first = profile.registry.catalogue_first
    rule = first.rule if first else SYSTEM_UNKNOWN
    units = {app.org, *app.co_orgs}
    found: list[Violation] = []
    for system_id in app.system_ids:
        system = systems.get(system_id)
        if system is None or system.jurisdiction != app.jurisdiction:
            found.append(
                Violation(
                    rule,
                    f"信息系统 {system_id} 未纳入系统目录（尚无登记平台的记录）",
                    f"system {system_id} is not in the system catalogue (no registry record)",
                )
            )
            continue
        if not system.catalogued:
            found.append(
                Violation(
                    rule,
                    f"信息系统 {system_id} 已退役，不再计入系统目录",
                    f"system {system_id} is {system.status} and no longer counts as catalogued",
                )
            )
        if system.org not in units:
            found.append(
                Violation(
                    SYSTEM_OF_OTHERS,
                    f"信息系统 {system_id} 不属于牵头单位或共建单位",
                    f"system {system_id} belongs to neither the lead unit nor a co-builder",
                )
            )
        catalogue = profile.resource_catalogue_required
        if catalogue and system.resource_count == 0:
            found.append(
                Violation(
                    catalogue.rule,
                    f"信息系统 {system_id} 未编制信息资源目录：{catalogue.message_zh}",
                    f"system {system_id} has no resource catalogue: {catalogue.message_en}",
                )
            )
    return found


# Kinds of project that build (建设): the isolated-systems rule refuses approval to build
# or upgrade a system that does not interconnect and share. An ``operations`` project
# builds nothing; an existing system that does not share loses its operations money
# instead (funding's ``data_shared`` gate: xinzhou-transport:10 second sentence,
# linfen-water:11, leshan:33).
BUILDING_KINDS = frozenset({"new", "upgrade"})


def isolated_system_violations(
    app: Application, profile: PolicyProfile, systems: Mapping[uuid.UUID, SystemFacts]
) -> list[Violation]:
    """Systems that cannot interconnect and share are not approved (linfen-water:11,
    xiangfen:11, xinzhou-transport:10, jincheng:9, leshan:6).

    "Isolated", from the registry's projection: the system is not connected to the data
    sharing exchange, or shares none of its resources (``facts.data_shared`` false),
    so it neither interconnects (互联互通) nor shares information (信息共享). Only systems
    approval knows in the project's jurisdiction are judged; an unknown one is already
    refused by the catalogue-first rule.
    """
    rule = profile.isolated_systems_refused
    if rule is None or app.kind not in BUILDING_KINDS:
        return []
    found = []
    for system_id in app.system_ids:
        system = systems.get(system_id)
        if system is None or system.jurisdiction != app.jurisdiction or system.data_shared:
            continue
        found.append(
            Violation(
                rule.rule,
                f"信息系统 {system_id} 未接入数据共享交换平台或未共享任何信息资源，"
                f"属于孤立信息系统：{rule.message_zh}",
                f"system {system_id} is not connected to the data sharing exchange or shares"
                f" none of its resources, so it is an isolated system: {rule.message_en}",
            )
        )
    return found


def consent_stage(profile: PolicyProfile, stage: str) -> ConsentStage | None:
    """The stage of the party group's consent (xinzhou-transport) the profile requires."""
    consent = profile.party_group_consent
    if consent is None:
        return None
    return next((s for s in consent.stages if s.stage == stage), None)


PARTY_GROUP_CONSENT = "party_group_consent"


def consent_violations(app: Application, profile: PolicyProfile) -> list[Violation]:
    """xinzhou-transport:7, 10: the application goes to the authority only after the
    bureau's party group has consented (经局党组同意后，报市政务信息管理局审批立项).

    The consent is a document the unit attaches, like every other material: the material
    ``party_group_consent`` (the party group's minutes or written consent, by sha256).
    It is a precondition of the submission, not a reviewer's opinion: the seed puts it
    before the application reaches the authority. The other stages (plan, supervisor and
    acceptance filings, disbursement) belong to other services.
    """
    stage = consent_stage(profile, "application")
    if stage is None or PARTY_GROUP_CONSENT in app.materials:
        return []
    assert profile.party_group_consent is not None
    return [
        Violation(
            stage.rule,
            f"缺少局党组同意的书面意见（{PARTY_GROUP_CONSENT}）："
            f"{profile.party_group_consent.message_zh}，方可报市政务信息管理局审批立项",
            f"the application lacks the party group's written consent ({PARTY_GROUP_CONSENT}):"
            f" {profile.party_group_consent.message_en} The application goes to the"
            " authority only once it has been given.",
        )
    ]


def merged_plan_allowed(app: Application, profile: PolicyProfile) -> bool:
    """leshan:18: one implementation plan may stand in for the feasibility study and the
    preliminary design at most 5,000,000.00 yuan (inclusive), or when mandated or urgent."""
    plan = profile.merged_implementation_plan
    if plan is None or app.delivery not in plan.deliveries:
        return False
    grounds = {g.key for g in plan.grounds}
    return plan.within_threshold(app.total_investment) or (
        app.merged_plan_ground is not None and app.merged_plan_ground in grounds
    )


def required_materials(app: Application, profile: PolicyProfile) -> tuple[str, ...]:
    merged = "implementation_plan" in app.materials and merged_plan_allowed(app, profile)
    return profile.materials_for(app.delivery, merged=merged)  # type: ignore[arg-type]


def material_violations(app: Application, profile: PolicyProfile) -> list[Violation]:
    citations: dict[str, str] = {m.material: m.rule for m in profile.required_materials}
    plan = profile.merged_implementation_plan
    if plan is not None:
        citations[plan.material] = plan.rule
    found = [
        Violation(
            citations.get(material, "approval:materials"),
            f"缺少申报材料：{_MATERIALS_ZH[material]}（{material}）",
            f"the application lacks the {material.replace('_', ' ')} ({material})",
        )
        for material in required_materials(app, profile)
        if material not in app.materials
    ]
    if (
        plan is not None
        and "implementation_plan" in app.materials
        and app.delivery in plan.deliveries
        and not merged_plan_allowed(app, profile)
    ):
        threshold = next((g for g in plan.grounds if g.key == "within_investment_threshold"), None)
        found.append(
            Violation(
                threshold.rule if threshold else plan.rule,
                f"总投资 {app.total_investment} 元超过 {plan.max_total_investment} 元且无其他情形，"
                "实施方案不能代替可行性研究报告和初步设计",
                f"a total of {app.total_investment} yuan is above {plan.max_total_investment} and"
                " no other ground applies: the implementation plan cannot replace the"
                " feasibility study and preliminary design",
            )
        )
    return found


_MATERIALS_ZH = {
    "proposal": "项目建议书",
    "feasibility_study": "可行性研究报告",
    "preliminary_design": "初步设计",
    "investment_estimate": "投资概算",
    "implementation_plan": "实施方案",
    "service_requirements": "服务需求方案",
    "party_group_consent": "局党组同意意见",
}


def budget_violations(total: Decimal, budgets: Sequence[tuple[int, Decimal]]) -> list[Violation]:
    added = sum((amount for _, amount in budgets), Decimal("0"))
    if added == total:
        return []
    return [
        Violation(
            BUDGETS_ADD_UP,
            f"分年度预算合计 {added} 元与总投资 {total} 元不一致",
            f"the annual budgets add up to {added} yuan, not the total of {total}",
        )
    ]


def negative_list_violations(
    app: Application, profile: PolicyProfile, *, upgrades_unaccepted: bool
) -> list[Violation]:
    found = []
    for item in profile.negative_list:
        if item.declared:
            hit = bool(app.declarations.get(item.key))
        else:  # item 8: an upgrade of a project not yet accepted, from the data
            hit = app.kind == "upgrade" and upgrades_unaccepted
        if hit:
            found.append(item.violation())
    return found


BLOCKING = frozenset({"no_new_projects", "no_new_systems"})


def sanction_violations(
    profile: PolicyProfile, sanctions: Iterable[SanctionFact], year: int
) -> list[Violation]:
    """Sanctions on the unit that bar new projects (leshan:32) or new systems (33, 51)."""
    found: dict[str, Violation] = {}
    for fact in sanctions:
        sanction = profile.sanction(fact.trigger)  # type: ignore[arg-type]
        if sanction is None or not fact.applies_in(year):
            continue
        if BLOCKING & set(sanction.consequences):
            found.setdefault(sanction.rule, sanction.violation())
    return list(found.values())


def sanction_years(
    profile: PolicyProfile, trigger: str, year: int
) -> tuple[int, int | None] | None:
    """(from, until) years a sanction imposed in ``year`` bars the unit, or None where the
    profile has no such sanction. ``next_budget_year`` (leshan:33): the next year only."""
    sanction = profile.sanction(trigger)  # type: ignore[arg-type]
    if sanction is None:
        return None
    if sanction.timing == "next_budget_year":
        return year + 1, year + 1
    return year, None


# --- opinions, reviews and the decision -------------------------------------------------


def missing_opinions(profile: PolicyProfile, topics: Iterable[str]) -> list[Violation]:
    """leshan:22, jincheng:7-8: the opinions the authority must have before deciding."""
    present = set(topics)
    return [
        Violation(
            rule.rule,
            f"尚缺{rule.issuer_zh}的{_TOPICS_ZH[rule.topic]}意见，主管部门不能作出决定",
            f"the {rule.topic} opinion ({rule.issuer_zh}) is missing; no decision before it",
        )
        for rule in profile.required_opinions
        if rule.topic not in present
    ]


_TOPICS_ZH = {
    "cyberspace": "网络安全",
    "crypto": "密码应用",
    "public_security": "公安",
    "finance": "财政",
    "technical": "技术审核",
}

WITHIN_ASKED = "approval:approved-within-asked"
YEARS_ASKED = "approval:approved-years-asked"


def decision_violations(
    asked_total: Decimal,
    asked: Sequence[tuple[int, Decimal]],
    approved_total: Decimal,
    approved: Sequence[tuple[int, Decimal]],
) -> list[Violation]:
    """Approved amounts are never above what was asked (a new submission asks more)."""
    found = []
    if approved_total > asked_total:
        found.append(
            Violation(
                WITHIN_ASKED,
                f"批复总投资 {approved_total} 元超过申报的 {asked_total} 元",
                f"the approved total {approved_total} is above the {asked_total} asked",
            )
        )
    asked_by_year = dict(asked)
    for year, amount in approved:
        if year not in asked_by_year:
            found.append(
                Violation(
                    YEARS_ASKED,
                    f"{year} 年度未申报预算，不能批复",
                    f"no budget was asked for {year}",
                )
            )
        elif amount > asked_by_year[year]:
            found.append(
                Violation(
                    WITHIN_ASKED,
                    f"{year} 年度批复 {amount} 元超过申报的 {asked_by_year[year]} 元",
                    f"{year}: {amount} approved is above the {asked_by_year[year]} asked",
                )
            )
    found += budget_violations(approved_total, approved)
    return found


def project_number(profile: str, year: int, sequence: int) -> str:
    """``jincheng-2026-0007``: unique per jurisdiction and year (the counter's row)."""
    return f"{profile}-{year}-{sequence:04d}"


# --- changes and termination -------------------------------------------------------------

CHANGE_NEEDS_APPROVAL = "approval:change-needs-approval"  # profiles without an article


def classify_change(
    profile: PolicyProfile,
    approved_total: Decimal,
    new_total: Decimal,
    adjusted_amount: Decimal,
    goals_changed: bool,
) -> tuple[Classification, str]:
    """leshan:29: at most 15 % of the approved total moved, same goals, total not
    exceeded → a self-adjustment, recorded and filed; anything else needs the
    authority's decision. A profile without the rule: every change does. Returns the
    classification and the rule that decided it."""
    rule = profile.self_adjustment
    if (
        rule is not None
        and new_total <= approved_total
        and not goals_changed
        and adjusted_amount <= rule.max_adjustment(approved_total)
    ):
        return "self_adjustment", rule.rule
    return "major_change", major_change_rule(profile)


def major_change_rule(profile: PolicyProfile) -> str:
    if profile.change_application is not None:
        return profile.change_application.rule
    return CHANGE_NEEDS_APPROVAL


def change_refusal(
    profile: PolicyProfile, classification: Classification, already_carried_out: bool
) -> Violation | None:
    """leshan:28: a major change already carried out without approval gets no
    after-the-fact approval."""
    if classification != "major_change" or not already_carried_out:
        return None
    if profile.change_application is not None:
        return profile.change_application.violation()
    return Violation(
        CHANGE_NEEDS_APPROVAL,
        "重大变更须事先批准，已擅自实施的不予事后批准",
        "a major change needs approval beforehand; one already carried out is refused",
    )


CHANGEABLE: frozenset[str] = frozenset({"approved", "in_construction"})


def change_status_violation(status: str) -> Violation | None:
    if status in CHANGEABLE:
        return None
    return Violation(
        LIFECYCLE,
        f"项目状态为{_ZH.get(status, status)}，不能申请变更（仅已批复、建设中的项目）",
        f"a project that is {status} takes no change (approved or in construction only)",
    )


def termination_rule(profile: PolicyProfile) -> str | None:
    """leshan:30 where the profile has it; elsewhere the authority's termination cites
    no article."""
    rule = profile.termination_on_external_change
    return rule.rule if rule is not None else None


# --- status moves from other services' events ---------------------------------------------


def target_of_filing(event_type: str, passed: bool | None) -> Status | None:
    """The status a filing service event moves a project to (docs/event-payloads.md)."""
    if event_type == "govit.filing.contract.filed":
        return "in_construction"
    if event_type == "govit.filing.acceptance.recorded" and passed:
        return "accepted"
    if event_type == "govit.filing.acceptance.filed" and passed:
        return "in_operation"
    return None


def move_from_event(current: str, target: str) -> bool:
    """Apply an event's move only where the lifecycle allows it and it moves forward: a
    late (out-of-order) event never moves a project back."""
    return may_move(current, target) and current != "suspended"


def move_while_suspended(suspended_from: str | None, target: str) -> bool:
    """A filing event that arrives while the project is suspended moves where it will
    resume (a contract signed before the suspension still counts once it ends)."""
    return (
        suspended_from is not None and suspended_from in LIVE and may_move(suspended_from, target)
    )


def rectification_target(
    current: str, suspended_from: str | None, escalated: bool, termination_requested: bool
) -> Status | None:
    """What the project's rectification orders make of it: terminated on a termination
    request, suspended while any order is escalated, resumed when none is."""
    if termination_requested:
        return "terminated" if may_move(current, "terminated") else None
    if escalated and current in LIVE:
        return "suspended"
    if not escalated and current == "suspended" and suspended_from in LIVE:
        assert suspended_from is not None
        return suspended_from
    return None


SANCTION_OF_REASON = {
    "data_not_shared": "data_not_shared",  # leshan:33
    "security_noncompliant": "security_noncompliant",  # leshan:51
}
