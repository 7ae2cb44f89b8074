"""The evaluation service's rules, pure: no I/O, no framework; profiles and dates passed in.

Three sets of rules:

- **scoring** an evaluation over the five dimensions of efficacy (linfen-water:26,
  xiangfen:29, xinzhou-transport:26) with weights and grade bands, and which grade
  fails;
- the **rectification lifecycle** (linfen-water:25, xiangfen:28, xinzhou-transport:24,
  jincheng:22, leshan:47): ``suggested → open | dismissed``, ``open → resolved |
  escalated``, ``escalated → resolved | termination_requested``;
- the **spot check** sample (xiangfen:27, xinzhou-transport:23): reproducible from a
  seed, stratified by unit.

A refusal is a ``Violation`` citing the regulation (``<profile>:<article>``) or, where
no article governs the rule, the service's own ``evaluation:<rule>`` id.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, get_args

from shared.auth.access import Ownership
from shared.errors import Violation
from shared.policy import PolicyProfile
from shared.policy.rules import EvaluationDimension, RectificationReason

Kind = Literal["self", "post", "efficacy", "unit_annual"]
Method = Literal["document_review", "third_party", "questionnaire"]
Status = Literal["suggested", "open", "escalated", "resolved", "termination_requested", "dismissed"]
Action = Literal["confirm", "dismiss", "resolve", "escalate", "request_termination"]
EscalationGrounds = Literal["refused", "still_failing"]

DIMENSIONS: tuple[str, ...] = get_args(EvaluationDimension)
REASONS: tuple[str, ...] = get_args(RectificationReason)
KINDS: tuple[str, ...] = get_args(Kind)
METHODS: tuple[str, ...] = get_args(Method)
STATUSES: tuple[str, ...] = get_args(Status)

# Access follows the suite's rule (shared.auth.access): a project, its evaluations and
# its orders are the lead unit's, and its co-builders read them; an assessment is its
# unit's; oversight reads its jurisdiction.
PROJECTS = Ownership(org="org", co_owners="co_orgs")
EVALUATIONS = Ownership(org="org", co_owners="co_orgs")
RECTIFICATIONS = Ownership(org="org", co_owners="co_orgs")
ASSESSMENTS = Ownership(org="org")
# A jurisdiction's record, owned by no unit: its oversight roles and admin read it.
SPOT_CHECKS = Ownership(org=None)
UNITS = Ownership(org=None, directory=True)

# The service's own rules, where no article of the five regulations governs them.
LIFECYCLE_RULE = "evaluation:rectification-lifecycle"
SCORING_RULE = "evaluation:scoring"
QUESTIONNAIRE_RULE = "evaluation:questionnaire-window"
SELF_EVALUATION_RULE = "evaluation:self-evaluation-by-unit"


# --- scoring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    grade: str
    minimum: Decimal  # the lowest total score that earns the grade
    fails: bool


@dataclass(frozen=True)
class Scoring:
    """Weights per dimension (summing to 1), grade bands (highest first), and where they
    came from (``source``: the profile's rule, or the default's origin)."""

    weights: Mapping[str, Decimal]
    bands: tuple[Band, ...]
    source: str
    dimensions: tuple[str, ...]
    citation: str | None  # the profile's efficacy article, None where it has none

    def grade(self, total: Decimal) -> Band:
        return next(b for b in self.bands if total >= b.minimum)


# None of the five regulations gives weights or grade bands: they name the five
# dimensions only. The defaults are therefore documented here, not invented per
# profile: equal weights (no dimension is ranked above another in any of the
# articles), and the four grade bands of the Ministry of Finance's performance
# evaluation rules for project spending (财政部《项目支出绩效评价管理办法》,
# 财预〔2020〕10号, 第二十七条: 90 分及以上为"优", 80-90 分为"良", 60-80 分为"中",
# 60 分以下为"差"), whose lowest band ("差", poor) fails.
DEFAULT_SOURCE = "财预〔2020〕10号 第二十七条 (grade bands); equal weights (no seed ranks them)"
DEFAULT_BANDS = (
    Band("excellent", Decimal(90), fails=False),
    Band("good", Decimal(80), fails=False),
    Band("fair", Decimal(60), fails=False),
    Band("poor", Decimal(0), fails=True),
)


def scoring(profile: PolicyProfile) -> Scoring:
    """The profile's scoring: its dimensions (the five, where it names none) with the
    documented default weights and bands (no profile carries its own yet)."""
    rule = profile.efficacy_evaluation
    dimensions = tuple(rule.dimensions) if rule is not None else DIMENSIONS
    weight = Decimal(1) / len(dimensions)
    return Scoring(
        weights={d: weight for d in dimensions},
        bands=DEFAULT_BANDS,
        source=DEFAULT_SOURCE,
        dimensions=dimensions,
        citation=rule.rule if rule is not None else None,
    )


@dataclass(frozen=True)
class Result:
    total: Decimal | None
    grade: str | None
    failing: bool


TWO_PLACES = Decimal("0.01")


def score(scores: Mapping[str, Decimal], rules: Scoring) -> Result:
    """The weighted total of the scored dimensions (weights renormalised over those
    scored), its grade, and whether that grade fails; no scores: no total, no grade."""
    if not scores:
        return Result(None, None, failing=False)
    weight = sum((rules.weights[d] for d in scores), Decimal(0))
    total = sum((Decimal(scores[d]) * rules.weights[d] for d in scores), Decimal(0)) / weight
    total = total.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)
    band = rules.grade(total)
    return Result(total, band.grade, band.fails)


def score_violations(kind: str, scores: Mapping[str, object], rules: Scoring) -> list[Violation]:
    """Unknown dimensions and scores outside 0-100; an efficacy evaluation scores all
    dimensions (the questionnaire may still owe ``user_satisfaction``: see service)."""
    rule = rules.citation or SCORING_RULE
    found = []
    for dimension in scores:
        if dimension not in rules.dimensions:
            found.append(
                Violation(
                    rule,
                    f"评价维度 {dimension} 不在本地规定的五个维度之内",
                    f"{dimension} is not one of the profile's dimensions: "
                    + ", ".join(rules.dimensions),
                )
            )
    for dimension, value in scores.items():
        if not isinstance(value, Decimal) or not (0 <= value <= 100):
            found.append(
                Violation(
                    SCORING_RULE,
                    f"评价维度 {dimension} 的得分应在 0-100 之间",
                    f"the score of {dimension} must lie between 0 and 100",
                )
            )
    return found


def missing_dimensions(scores: Mapping[str, object], rules: Scoring) -> list[str]:
    return [d for d in rules.dimensions if d not in scores]


def efficacy_incomplete(missing: Sequence[str], rules: Scoring) -> Violation:
    return Violation(
        rules.citation or SCORING_RULE,
        "应用效能评估应对全部五个维度打分：" + "、".join(missing) + " 未评分",
        "an efficacy evaluation scores every dimension; missing: " + ", ".join(missing),
    )


def likert_to_score(answers: Sequence[int]) -> Decimal | None:
    """A questionnaire's answers (1-5) as a 0-100 ``user_satisfaction`` score: the mean
    mapped linearly (1 → 0, 5 → 100); no answers, no score."""
    if not answers:
        return None
    mean = Decimal(sum(answers)) / len(answers)
    return ((mean - 1) * 25).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def questionnaire_window(today: date, opens_on: date, closes_on: date) -> Violation | None:
    """Answers count from ``opens_on`` to ``closes_on``, both included."""
    if today < opens_on:
        return Violation(
            QUESTIONNAIRE_RULE,
            f"问卷 {opens_on.isoformat()} 起接受答卷",
            f"the questionnaire opens on {opens_on.isoformat()}",
        )
    if today > closes_on:
        return Violation(
            QUESTIONNAIRE_RULE,
            f"问卷已于 {closes_on.isoformat()} 截止",
            f"the questionnaire closed on {closes_on.isoformat()}",
        )
    return None


# --- rectification ------------------------------------------------------------------------

# (from, action) → to. Everything else is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("suggested", "confirm"): "open",
    ("suggested", "dismiss"): "dismissed",
    ("open", "resolve"): "resolved",
    ("open", "escalate"): "escalated",
    ("escalated", "resolve"): "resolved",
    ("escalated", "request_termination"): "termination_requested",
}
ACTIONS: tuple[str, ...] = get_args(Action)
FINAL = frozenset({"resolved", "termination_requested", "dismissed"})
UNRESOLVED = ("open", "escalated")  # what "past due and unresolved" reads


def transition(current: str, action: str) -> str | None:
    return TRANSITIONS.get((current, action))


def transition_violation(current: str, action: str, profile: PolicyProfile) -> Violation | None:
    """None when ``action`` may move an order in ``current``; else why not, cited: the
    profile's rectification article for what escalation needs, the service's lifecycle
    rule for the rest."""
    if transition(current, action) is not None:
        return None
    allowed = sorted(a for (s, a) in TRANSITIONS if s == current)
    if action == "request_termination":
        return Violation(
            profile.rectification.rule,
            "只有整改逾期未完成或拒不整改、已暂停资金的项目方可申请终止",
            f"termination is requested only after escalation (funds suspended); the order is"
            f" {current}",
        )
    if action == "escalate" and current == "suggested":
        return Violation(
            profile.rectification.rule,
            "建议的整改通知须先经主管部门确认",
            "a suggested order is confirmed by the authority before anything follows from it",
        )
    return Violation(
        LIFECYCLE_RULE,
        f"整改通知状态为 {current}，不能执行 {action}",
        f"an order that is {current} cannot be {action}d; allowed: {', '.join(allowed) or 'none'}",
    )


def escalation_violation(
    grounds: str, today: date, due_on: date | None, profile: PolicyProfile
) -> Violation | None:
    """Escalation needs a ground of the article: the unit refused to rectify, or it is
    still failing after the due date (so not before it)."""
    if grounds == "still_failing" and due_on is not None and today <= due_on:
        return Violation(
            profile.rectification.rule,
            f"整改期限 {due_on.isoformat()} 未到，不能以逾期未整改为由暂停资金",
            f"the order is due on {due_on.isoformat()}: 'still failing after the due date'"
            " applies only after it",
        )
    return None


def reason_violation(reason: str, profile: PolicyProfile) -> Violation | None:
    """The profile must name ``reason`` among its grounds for rectification."""
    if reason in profile.rectification.reasons:
        return None
    return Violation(
        profile.rectification.rule,
        f"本地规定未将 {reason} 列为限期整改事由",
        f"{profile.id}'s regulation names no rectification on the ground {reason}; its"
        " grounds: " + ", ".join(sorted(profile.rectification.reasons)),
    )


def reason_rule(reason: str, profile: PolicyProfile) -> str:
    """The article that makes ``reason`` a ground (the rectification article otherwise)."""
    ground = next((g for g in profile.rectification.grounds if g.reason == reason), None)
    return ground.rule if ground is not None else profile.rectification.rule


# A rectification order corrects a project under an approval: from approval on, until
# the project is terminated (a draft, submitted or rejected project has none to break).
RECTIFIABLE_PROJECTS = frozenset(
    {"approved", "in_construction", "accepted", "in_operation", "suspended"}
)


def project_violation(project_status: str, profile: PolicyProfile) -> Violation | None:
    if project_status in RECTIFIABLE_PROJECTS:
        return None
    return Violation(
        profile.rectification.rule,
        f"项目状态为 {project_status}，不在批复执行期内，不能下达整改通知",
        f"a project that is {project_status} is not under an approval to rectify against",
    )


def due_violation(due_on: date, today: date, profile: PolicyProfile) -> Violation | None:
    if due_on > today:
        return None
    return Violation(
        profile.rectification.rule,
        "整改期限应晚于下达整改通知之日",
        f"the due date {due_on.isoformat()} must come after the order ({today.isoformat()})",
    )


def overdue(status: str, due_on: date | None, today: date) -> bool:
    """Past its due date and unresolved: flagged for the authority, never escalated by
    the platform itself (escalation is a person's decision)."""
    return status in UNRESOLVED and due_on is not None and due_on < today


ACCEPTANCE_OBLIGATIONS = frozenset({"acceptance_application", "acceptance_report"})


def suggests_acceptance_delayed(obligation_type: str, obligation_status: str) -> bool:
    """A missed acceptance obligation suggests an ``acceptance_delayed`` order."""
    return obligation_type in ACCEPTANCE_OBLIGATIONS and obligation_status == "missed"


# --- spot check ---------------------------------------------------------------------------


def spot_check_sample(
    population: Sequence[tuple[uuid.UUID, uuid.UUID]], size: int, seed: str
) -> list[uuid.UUID]:
    """``size`` evaluation ids drawn from ``population`` (``(evaluation_id, org)``),
    stratified by unit: the units are put in a seeded order and each gives one of its
    evaluations (in seeded order) per round until ``size`` are drawn. Every unit can be
    drawn, none twice before every unit has given one; the same seed and population
    give the same sample, whatever order the population came in."""
    # Reproducible by design: the sample must be redrawn from its recorded seed.
    rng = random.Random(seed)  # noqa: S311
    by_org: dict[uuid.UUID, list[uuid.UUID]] = {}
    for evaluation_id, org in sorted(population):
        by_org.setdefault(org, []).append(evaluation_id)
    orgs = sorted(by_org)
    rng.shuffle(orgs)
    for org in orgs:
        rng.shuffle(by_org[org])
    sample: list[uuid.UUID] = []
    depth = 0
    while len(sample) < size and any(len(v) > depth for v in by_org.values()):
        for org in orgs:
            if depth < len(by_org[org]) and len(sample) < size:
                sample.append(by_org[org][depth])
        depth += 1
    return sample
