"""The rules, pure: scoring and grading per profile, the rectification lifecycle (every
allowed and every refused step), grounds per profile, the spot check's sample."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.evaluation import domain
from shared.policy import PROFILE_IDS, load_profile

ALL_FIVE = {
    "support_capacity": Decimal(90),
    "user_satisfaction": Decimal("85.5"),
    "efficiency_gain": Decimal(80),
    "sustainability": Decimal(70),
    "security_reliability": Decimal(95),
}


# --- scoring ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_profile_scores_the_five_dimensions_with_equal_default_weights(
    profile_id: str,
) -> None:
    rules = domain.scoring(load_profile(profile_id))
    assert set(rules.dimensions) == set(domain.DIMENSIONS)
    assert sum(rules.weights.values()) == pytest.approx(Decimal(1))
    assert len(set(rules.weights.values())) == 1
    assert "财预〔2020〕10号" in rules.source
    efficacy = load_profile(profile_id).efficacy_evaluation
    # The article is cited where the profile has one (linfen-water:26, xiangfen:29, ...).
    assert rules.citation == (efficacy.rule if efficacy else None)


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_the_weighted_total_and_its_grade(profile_id: str) -> None:
    rules = domain.scoring(load_profile(profile_id))
    result = domain.score(ALL_FIVE, rules)
    assert result.total == Decimal("84.10")  # (90 + 85.5 + 80 + 70 + 95) / 5
    assert (result.grade, result.failing) == ("good", False)


@pytest.mark.parametrize(
    ("total", "grade", "failing"),
    [
        (Decimal(100), "excellent", False),
        (Decimal(90), "excellent", False),
        (Decimal("89.99"), "good", False),
        (Decimal(80), "good", False),
        (Decimal("79.99"), "fair", False),
        (Decimal(60), "fair", False),
        (Decimal("59.99"), "poor", True),
        (Decimal(0), "poor", True),
    ],
)
def test_grade_bands_and_which_grade_fails(total: Decimal, grade: str, failing: bool) -> None:
    rules = domain.scoring(load_profile("xiangfen"))
    result = domain.score(dict.fromkeys(domain.DIMENSIONS, total), rules)
    assert (result.total, result.grade, result.failing) == (total, grade, failing)


def test_weights_are_renormalised_over_the_dimensions_scored() -> None:
    rules = domain.scoring(load_profile("linfen-water"))
    result = domain.score({"support_capacity": Decimal(50), "sustainability": Decimal(70)}, rules)
    assert result.total == Decimal("60.00")
    assert domain.score({}, rules) == domain.Result(None, None, failing=False)


def test_unknown_dimensions_and_out_of_range_scores_are_refused_with_the_article() -> None:
    rules = domain.scoring(load_profile("linfen-water"))
    found = domain.score_violations(
        "efficacy", {"beauty": Decimal(50), "sustainability": Decimal(101)}, rules
    )
    assert [v.rule for v in found] == ["linfen-water:26", domain.SCORING_RULE]
    assert domain.score_violations("efficacy", ALL_FIVE, rules) == []
    # A profile without an efficacy article cites the service's own scoring rule.
    jincheng = domain.scoring(load_profile("jincheng"))
    assert [v.rule for v in domain.score_violations("post", {"x": Decimal(1)}, jincheng)] == [
        domain.SCORING_RULE
    ]


def test_missing_dimensions_of_an_efficacy_evaluation() -> None:
    rules = domain.scoring(load_profile("xinzhou-transport"))
    partial = {k: v for k, v in ALL_FIVE.items() if k != "user_satisfaction"}
    assert domain.missing_dimensions(partial, rules) == ["user_satisfaction"]
    violation = domain.efficacy_incomplete(["user_satisfaction"], rules)
    assert violation.rule == "xinzhou-transport:26"


def test_questionnaire_answers_map_to_a_0_to_100_satisfaction() -> None:
    assert domain.likert_to_score([]) is None
    assert domain.likert_to_score([1]) == Decimal("0.00")
    assert domain.likert_to_score([5, 5]) == Decimal("100.00")
    assert domain.likert_to_score([4, 5, 3]) == Decimal("75.00")
    assert domain.likert_to_score([4, 4, 5]) == Decimal("83.33")


def test_the_questionnaire_window_includes_both_ends() -> None:
    opens, closes = date(2026, 12, 1), date(2026, 12, 10)
    assert domain.questionnaire_window(date(2026, 11, 30), opens, closes) is not None
    assert domain.questionnaire_window(opens, opens, closes) is None
    assert domain.questionnaire_window(closes, opens, closes) is None
    late = domain.questionnaire_window(date(2026, 12, 11), opens, closes)
    assert late is not None and late.rule == domain.QUESTIONNAIRE_RULE


# --- rectification ------------------------------------------------------------------------

ALLOWED = {
    ("suggested", "confirm"): "open",
    ("suggested", "dismiss"): "dismissed",
    ("open", "resolve"): "resolved",
    ("open", "escalate"): "escalated",
    ("escalated", "resolve"): "resolved",
    ("escalated", "request_termination"): "termination_requested",
}


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product(domain.STATUSES, domain.ACTIONS))
)
@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_step_of_the_lifecycle_is_allowed_or_refused_with_a_citation(
    profile_id: str, status: str, action: str
) -> None:
    profile = load_profile(profile_id)
    violation = domain.transition_violation(status, action, profile)
    if (status, action) in ALLOWED:
        assert violation is None
        assert domain.transition(status, action) == ALLOWED[(status, action)]
    else:
        assert violation is not None
        assert domain.transition(status, action) is None
        assert violation.rule in {profile.rectification.rule, domain.LIFECYCLE_RULE}
        assert violation.message_zh and violation.message_en
        if action == "request_termination":
            # Termination follows escalation: the profile's rectification article says so.
            assert violation.rule == profile.rectification.rule


def test_final_states_allow_nothing() -> None:
    for status in domain.FINAL:
        assert all(domain.transition(status, a) is None for a in domain.ACTIONS)


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
@pytest.mark.parametrize("reason", domain.REASONS)
def test_the_grounds_each_profile_names(profile_id: str, reason: str) -> None:
    profile = load_profile(profile_id)
    violation = domain.reason_violation(reason, profile)
    if reason in profile.rectification.reasons:
        assert violation is None
        assert domain.reason_rule(reason, profile).startswith(f"{profile_id}:")
    else:
        assert violation is not None and violation.rule == profile.rectification.rule


def test_only_leshan_orders_rectification_for_data_sharing_and_security() -> None:
    for profile_id in PROFILE_IDS:
        profile = load_profile(profile_id)
        names = domain.reason_violation("data_not_shared", profile) is None
        assert names == (profile_id == "leshan")
    assert domain.reason_rule("acceptance_delayed", load_profile("leshan")) == "leshan:30"


def test_escalation_for_still_failing_waits_for_the_due_date_refusal_does_not() -> None:
    profile = load_profile("jincheng")
    due = date(2026, 12, 1)
    early = domain.escalation_violation("still_failing", date(2026, 12, 1), due, profile)
    assert early is not None and early.rule == "jincheng:22"
    assert domain.escalation_violation("still_failing", date(2026, 12, 2), due, profile) is None
    assert domain.escalation_violation("refused", date(2026, 11, 2), due, profile) is None


def test_a_due_date_must_come_after_the_order() -> None:
    profile = load_profile("xiangfen")
    today = date(2026, 11, 26)
    refused = domain.due_violation(today, today, profile)
    assert refused is not None and refused.rule == "xiangfen:28"
    assert domain.due_violation(date(2026, 11, 27), today, profile) is None


def test_overdue_means_past_due_and_unresolved() -> None:
    today = date(2026, 11, 26)
    past, future = date(2026, 11, 25), date(2026, 11, 26)
    assert domain.overdue("open", past, today)
    assert domain.overdue("escalated", past, today)
    assert not domain.overdue("open", future, today)
    for status in ("suggested", "resolved", "dismissed", "termination_requested"):
        assert not domain.overdue(status, past, today)
    assert not domain.overdue("open", None, today)


def test_only_a_missed_acceptance_obligation_suggests_an_order() -> None:
    assert domain.suggests_acceptance_delayed("acceptance_report", "missed")
    assert domain.suggests_acceptance_delayed("acceptance_application", "missed")
    assert not domain.suggests_acceptance_delayed("acceptance_report", "met")
    assert not domain.suggests_acceptance_delayed("contract_filing", "missed")
    assert not domain.suggests_acceptance_delayed("self_evaluation", "missed")


# --- spot check ---------------------------------------------------------------------------


def _population(units: int, each: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    orgs = [uuid.uuid4() for _ in range(units)]
    return [(uuid.uuid4(), org) for org in orgs for _ in range(each)]


def test_the_same_seed_gives_the_same_sample_whatever_order_rows_come_in() -> None:
    population = _population(6, 4)
    first = domain.spot_check_sample(population, 5, "seed-1")
    again = domain.spot_check_sample(list(reversed(population)), 5, "seed-1")
    assert first == again
    others = {tuple(domain.spot_check_sample(population, 5, f"seed-{n}")) for n in range(2, 12)}
    assert len(others) > 1  # the seed matters


def test_the_sample_is_stratified_by_unit() -> None:
    population = _population(5, 6)
    org_of = dict(population)
    sample = domain.spot_check_sample(population, 5, "abc")
    assert len({org_of[e] for e in sample}) == 5  # one per unit before any unit twice
    sample = domain.spot_check_sample(population, 12, "abc")
    counts = [sum(1 for e in sample if org_of[e] == org) for org in set(org_of.values())]
    assert max(counts) - min(counts) <= 1
    assert len(set(sample)) == 12


def test_every_unit_can_be_drawn_even_one_with_a_single_evaluation() -> None:
    big = _population(1, 50)
    small = _population(1, 1)
    population = big + small
    drawn = set()
    for n in range(60):
        drawn.update(domain.spot_check_sample(population, 1, f"s{n}"))
    assert small[0][0] in drawn


def test_a_sample_larger_than_the_population_takes_all_of_it() -> None:
    population = _population(3, 2)
    assert sorted(domain.spot_check_sample(population, 50, "x")) == sorted(e for e, _ in population)
    assert domain.spot_check_sample([], 3, "x") == []


@pytest.mark.parametrize(
    "status",
    [
        "draft",
        "submitted",
        "approved",
        "rejected",
        "in_construction",
        "accepted",
        "in_operation",
        "suspended",
        "terminated",
    ],
)
def test_only_a_project_under_an_approval_is_rectified(status: str) -> None:
    profile = load_profile("xinzhou-transport")
    violation = domain.project_violation(status, profile)
    if status in {"draft", "submitted", "rejected", "terminated"}:
        assert violation is not None and violation.rule == "xinzhou-transport:24"
    else:
        assert violation is None
