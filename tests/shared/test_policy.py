"""Policy profiles: the five regulations as data, every value checked against its seed.

The seeds (``../shared/seeds`` beside the checkout) are the source of truth: every
citation in every profile must name an article (and item) that exists in its seed.
"""

from __future__ import annotations

import copy
import re
import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from shared.errors import GovitError, Violation
from shared.policy import (
    PROFILE_IDS,
    PolicyProfile,
    Rule,
    UnknownProfile,
    all_profiles,
    load_profile,
    parse_citation,
)
from shared.policy.rules import NegativeListKey

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "../shared/seeds"
DATA = REPO / "shared/policy/data"
SEED_NUMBER = {  # DOMAIN.md: seed file -> profile id
    "linfen-water": 0,
    "xiangfen": 1,
    "xinzhou-transport": 2,
    "leshan": 3,
    "jincheng": 4,
}
SHANXI = ("linfen-water", "xiangfen", "xinzhou-transport", "jincheng")
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"no seed texts at {SEEDS}")


# --- reading the seeds ---------------------------------------------------------------

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
CN_DIGITS |= {"五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100}
ARTICLE_HEADING = re.compile(r"^\**\s*第([零〇一二两三四五六七八九十百]+)条", re.MULTILINE)
ITEM_MARK = re.compile(r"[（(]([一二三四五六七八九十]+)[）)]")


def cn_to_int(numeral: str) -> int:
    """二十一 -> 21, 十 -> 10, 五十七 -> 57, 一百零一 -> 101."""
    total, digit = 0, 0
    for ch in numeral:
        if ch in CN_DIGITS:
            digit = CN_DIGITS[ch]
        else:
            total += (digit or 1) * CN_UNITS[ch]
            digit = 0
    return total + digit


@cache
def seed_articles(profile_id: str) -> dict[int, str]:
    """Article number -> the article's text, from the profile's seed file."""
    (path,) = SEEDS.glob(f"{SEED_NUMBER[profile_id]:03d}_*.txt")
    text = path.read_text("utf-8")
    headings = list(ARTICLE_HEADING.finditer(text))
    articles: dict[int, str] = {}
    for here, after in zip(headings, [*headings[1:], None], strict=True):
        end = after.start() if after else len(text)
        articles[cn_to_int(here[1])] = text[here.start() : end]
    return articles


def article_items(article_text: str) -> set[int]:
    return {cn_to_int(m) for m in ITEM_MARK.findall(article_text)}


def raw_profile(profile_id: str) -> dict[str, Any]:
    return tomllib.loads((DATA / f"{profile_id}.toml").read_text("utf-8"))


# --- loading ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_profile_loads_under_its_own_id(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert isinstance(profile, PolicyProfile)
    assert profile.id == profile_id
    assert re.fullmatch(r"\d{4}-\d+", profile.version)


def test_all_profiles_are_the_five_regulations() -> None:
    assert set(all_profiles()) == set(SEED_NUMBER) == set(PROFILE_IDS)


def test_profiles_are_loaded_once() -> None:
    assert load_profile("leshan") is load_profile("leshan")


def test_an_unknown_profile_is_a_422_unknown_profile_error() -> None:
    with pytest.raises(UnknownProfile) as caught:
        load_profile("taiyuan")
    error = caught.value
    assert isinstance(error, GovitError)
    assert (error.status, error.code) == (422, "unknown_profile")
    assert error.problem()["profile"] == "taiyuan"


def test_a_path_is_not_a_profile_id() -> None:
    with pytest.raises(UnknownProfile):
        load_profile("../leshan")


def test_profiles_are_frozen() -> None:
    with pytest.raises(ValidationError):
        load_profile("jincheng").version = "2099-1"  # type: ignore[misc]


def test_documents_and_dates_are_those_the_seeds_print() -> None:
    documents = {p.id: p.document for p in all_profiles().values()}
    assert documents == {
        "linfen-water": "临水规计〔2022〕131号",
        "xiangfen": "襄政办发〔2022〕2号",
        "xinzhou-transport": "忻交发〔2022〕81号",
        "leshan": None,
        "jincheng": "晋市政办〔2019〕44号",
    }
    assert str(load_profile("leshan").effective_from) == "2022-06-25"
    assert str(load_profile("jincheng").effective_from) == "2019-12-13"
    validity = load_profile("leshan").validity_years
    assert validity is not None and (validity.value, validity.citation) == (5, ("leshan:57",))


# --- filings -------------------------------------------------------------------------


def test_jincheng_acceptance_filing_is_due_in_seven_working_days() -> None:
    rule = load_profile("jincheng").acceptance_filing_workdays
    assert rule is not None
    assert (rule.value, rule.citation) == (7, ("jincheng:21",))


@pytest.mark.parametrize(
    ("profile_id", "citation"),
    [
        ("linfen-water", "linfen-water:23"),
        ("xiangfen", "xiangfen:25"),
        ("xinzhou-transport", "xinzhou-transport:21"),
    ],
)
def test_shanxi_departments_file_acceptance_within_thirty_working_days(
    profile_id: str, citation: str
) -> None:
    rule = load_profile(profile_id).acceptance_filing_workdays
    assert rule is not None and (rule.value, rule.rule) == (30, citation)


@pytest.mark.parametrize(
    ("profile_id", "citation"),
    [
        ("linfen-water", "linfen-water:16"),
        ("xiangfen", "xiangfen:18"),
        ("xinzhou-transport", "xinzhou-transport:14"),
        ("jincheng", "jincheng:15"),
    ],
)
def test_contract_is_filed_within_five_working_days_of_signing(
    profile_id: str, citation: str
) -> None:
    profile = load_profile(profile_id)
    rule = profile.contract_filing_workdays
    assert rule is not None and (rule.value, rule.citation) == (5, (citation,))
    assert profile.contract_filing is not None
    assert profile.contract_filing.counted_from == "contract_signed"


def test_leshan_has_no_contract_filing_deadline() -> None:
    profile = load_profile("leshan")
    assert profile.contract_filing is None
    assert profile.contract_filing_workdays is None
    assert "contract_filing" in profile.not_in_seed


def test_leshan_acceptance_is_reported_on_the_platform_without_a_deadline() -> None:
    profile = load_profile("leshan")
    assert profile.acceptance_filing_workdays is None
    assert profile.acceptance_filing.via_platform
    assert profile.acceptance_filing.citation == ("leshan:31",)


def test_supervisor_filing_is_required_only_where_the_seed_says_so() -> None:
    required = {p.id for p in all_profiles().values() if p.supervisor_filing_required}
    assert required == {"linfen-water", "xiangfen", "xinzhou-transport"}
    supervisor = load_profile("xinzhou-transport").supervisor_filing
    assert supervisor is not None and supervisor.workdays is None
    assert supervisor.citation == ("xinzhou-transport:17",)


# --- funding gates ---------------------------------------------------------------------


def facts(profile_id: str, category: str) -> set[str]:
    gates = load_profile(profile_id).gates("construction" if category == "c" else "operations")
    return {g.fact for g in gates}


def test_xinzhou_transport_operations_need_all_three_filings_and_cloud_migration() -> None:
    assert {"contract_filed", "supervisor_filed", "acceptance_filed", "cloud_migrated"} <= facts(
        "xinzhou-transport", "o"
    )
    assert {"data_shared", "evaluation_result_filed"} <= facts("xinzhou-transport", "o")


def test_xinzhou_transport_later_construction_money_needs_all_three_filings() -> None:
    gates = {g.fact: g for g in load_profile("xinzhou-transport").construction_gates}
    assert {"contract_filed", "supervisor_filed", "acceptance_filed"} <= set(gates)
    assert gates["acceptance_filed"].timing == "after_acceptance"
    assert all(
        "xinzhou-transport:21" in gates[f].citation for f in ("contract_filed", "supervisor_filed")
    )


@pytest.mark.parametrize(
    ("profile_id", "citation"),
    [("linfen-water", "linfen-water:23"), ("xiangfen", "xiangfen:25"), ("jincheng", "jincheng:21")],
)
def test_an_unfiled_acceptance_closes_later_construction_and_all_operations_money(
    profile_id: str, citation: str
) -> None:
    profile = load_profile(profile_id)
    construction = {g.fact: g for g in profile.construction_gates}["acceptance_filed"]
    operations = {g.fact: g for g in profile.operations_gates}["acceptance_filed"]
    assert construction.timing == "after_acceptance" and operations.timing == "immediate"
    assert construction.rule == operations.rule == citation


def test_leshan_operations_money_needs_a_passed_acceptance_but_construction_does_not() -> None:
    gates = {g.fact: g for g in load_profile("leshan").operations_gates}
    assert gates["acceptance_passed"].citation == ("leshan:32",)
    assert facts("leshan", "c") == {"systems_catalogued"}


def test_leshan_data_sharing_gate_applies_from_the_next_budget_year() -> None:
    gate = {g.fact: g for g in load_profile("leshan").operations_gates}["data_shared"]
    assert (gate.timing, gate.citation) == ("next_budget_year", ("leshan:33",))


def test_only_leshan_gates_operations_money_on_security() -> None:
    gated = {pid for pid in PROFILE_IDS if "security_compliant" in facts(pid, "o")}
    assert gated == {"leshan"}
    gate = {g.fact: g for g in load_profile("leshan").operations_gates}["security_compliant"]
    assert gate.rule == "leshan:51"


@pytest.mark.parametrize(
    ("profile_id", "citation"),
    [
        ("linfen-water", "linfen-water:11"),
        ("xiangfen", "xiangfen:11"),
        ("xinzhou-transport", "xinzhou-transport:10"),
        ("leshan", "leshan:33"),
        ("jincheng", "jincheng:9"),
    ],
)
def test_every_profile_stops_operations_money_for_unshared_data(
    profile_id: str, citation: str
) -> None:
    gate = {g.fact: g for g in load_profile(profile_id).operations_gates}["data_shared"]
    assert gate.rule == citation


def test_only_xinzhou_transport_gates_operations_money_on_cloud_migration() -> None:
    assert {pid for pid in PROFILE_IDS if "cloud_migrated" in facts(pid, "o")} == {
        "xinzhou-transport"
    }


def test_jincheng_has_no_catalogue_first_gate() -> None:
    assert "systems_catalogued" not in facts("jincheng", "c") | facts("jincheng", "o")
    assert load_profile("jincheng").registry.catalogue_first is None


@pytest.mark.parametrize("profile_id", ["linfen-water", "xiangfen", "xinzhou-transport", "leshan"])
def test_uncatalogued_systems_close_both_gates(profile_id: str) -> None:
    assert "systems_catalogued" in facts(profile_id, "c") & facts(profile_id, "o")


def test_a_gate_refusal_is_a_violation_with_its_citation() -> None:
    gate = load_profile("jincheng").operations_gates[0]
    violation = gate.violation()
    assert isinstance(violation, Violation)
    assert violation.rule == "jincheng:21" and violation.message_zh and violation.message_en


def test_allocation_plans_are_published_where_the_seed_says_but_no_length_is_stated() -> None:
    notices = {p.id: p.allocation_public_notice for p in all_profiles().values()}
    assert {pid for pid, n in notices.items() if n} == {"xiangfen", "jincheng"}
    xiangfen, jincheng = notices["xiangfen"], notices["jincheng"]
    assert xiangfen is not None and jincheng is not None
    assert (xiangfen.rule, jincheng.rule) == ("xiangfen:14", "jincheng:11")
    assert xiangfen.workdays is None and jincheng.workdays is None


# --- approval ---------------------------------------------------------------------------


def test_leshan_negative_list_has_ten_items_each_citing_its_clause() -> None:
    items = load_profile("leshan").negative_list
    assert [i.item for i in items] == list(range(1, 11))
    assert all(i.citation == (f"leshan:8.{i.item}",) for i in items)
    assert {i.key for i in items} == set(get_args(NegativeListKey))


def test_leshan_negative_list_keys_match_the_api_declarations() -> None:
    keys = {i.item: i.key for i in load_profile("leshan").negative_list}
    assert keys[1] == "new_datacenter_or_hardware" and keys[10] == "unregistered_assets"
    declared = {i.item for i in load_profile("leshan").negative_list if i.declared}
    assert declared == set(range(1, 11)) - {8}  # item 8 is known from the data


def test_only_leshan_has_a_negative_list() -> None:
    assert [p.id for p in all_profiles().values() if p.negative_list] == ["leshan"]


def test_leshan_asks_five_reviewer_opinions_and_jincheng_a_technical_one() -> None:
    leshan = load_profile("leshan").required_opinions
    assert {o.topic for o in leshan} == {
        "cyberspace",
        "crypto",
        "public_security",
        "finance",
        "technical",
    }
    assert all(o.citation == ("leshan:22",) for o in leshan)
    (jincheng,) = load_profile("jincheng").required_opinions
    assert jincheng.topic == "technical" and set(jincheng.citation) == {"jincheng:7", "jincheng:8"}


def test_xinzhou_transport_needs_its_party_group_before_application_and_payment() -> None:
    consent = load_profile("xinzhou-transport").party_group_consent
    assert consent is not None
    stages = {s.stage: s for s in consent.stages}
    assert set(stages["application"].citation) == {"xinzhou-transport:7", "xinzhou-transport:10"}
    assert stages["disbursement"].citation == ("xinzhou-transport:5",)


def test_shanxi_applications_carry_proposal_study_design_and_estimate() -> None:
    for pid in SHANXI:
        assert load_profile(pid).materials_for("self_build") == (
            "proposal",
            "feasibility_study",
            "preliminary_design",
            "investment_estimate",
        )


def test_leshan_materials_depend_on_delivery_and_the_merged_plan() -> None:
    leshan = load_profile("leshan")
    assert leshan.materials_for("self_build") == ("feasibility_study", "preliminary_design")
    assert leshan.materials_for("self_build", merged=True) == ("implementation_plan",)
    assert leshan.materials_for("purchase_service") == ("service_requirements",)


def test_leshan_merges_plans_for_projects_up_to_five_million_yuan() -> None:
    plan = load_profile("leshan").merged_implementation_plan
    assert plan is not None and plan.rule == "leshan:18"
    assert plan.max_total_investment == Decimal("5000000")
    assert plan.within_threshold(Decimal("5000000.00"))
    assert not plan.within_threshold(Decimal("5000000.01"))
    assert [g.rule for g in plan.grounds] == ["leshan:18.1", "leshan:18.2", "leshan:18.3"]


def test_leshan_allows_self_adjustment_up_to_fifteen_percent() -> None:
    rule = load_profile("leshan").self_adjustment
    assert rule is not None and rule.rule == "leshan:29"
    assert rule.max_ratio == Decimal("0.15") and isinstance(rule.max_ratio, Decimal)
    assert rule.max_adjustment(Decimal("2000000")) == Decimal("300000")
    assert {c.key for c in rule.conditions} >= {"total_not_exceeded", "goals_unchanged"}
    assert [g.rule for g in rule.grounds] == ["leshan:29.1", "leshan:29.2", "leshan:29.3"]


def test_only_leshan_has_merged_plans_self_adjustment_and_a_trial_run() -> None:
    for profile in all_profiles().values():
        has = (
            profile.merged_implementation_plan,
            profile.self_adjustment,
            profile.trial_run_months,
        )
        assert all(has) if profile.id == "leshan" else not any(has)


# --- acceptance, evaluation, sanctions ------------------------------------------------------


def test_leshan_runs_three_months_of_trial_before_acceptance() -> None:
    trial = load_profile("leshan").trial_run_months
    assert trial is not None and (trial.value, trial.citation) == (3, ("leshan:31",))


def test_leshan_acceptance_materials_are_the_seven_of_article_31() -> None:
    materials = load_profile("leshan").acceptance_materials
    assert [m.document for m in materials] == [
        "construction_summary",
        "financial_report",
        "audit_report",
        "sharing_report",
        "test_report",
        "security_assessment",
        "crypto_assessment",
    ]
    assert all(m.citation == ("leshan:31",) for m in materials)


def test_every_acceptance_checks_catalogue_and_secure_products() -> None:
    for profile in all_profiles().values():
        assert {c.check for c in profile.acceptance_checks} == {
            "catalogue_joined",
            "secure_controllable",
        }


def test_joint_acceptance_in_linfen_water_and_jincheng() -> None:
    joint = {p.id: p.joint_acceptance for p in all_profiles().values() if p.joint_acceptance}
    assert {pid: j.rule for pid, j in joint.items()} == {
        "linfen-water": "linfen-water:20",
        "jincheng": "jincheng:18",
    }
    assert joint["jincheng"].preliminary_by_unit


def test_a_failed_leshan_acceptance_bars_operations_money_cloud_and_new_projects() -> None:
    sanction = load_profile("leshan").sanction("acceptance_failed")
    assert sanction is not None and sanction.rule == "leshan:32"
    assert set(sanction.consequences) == {
        "no_operations_funds",
        "no_cloud_resources",
        "no_new_projects",
    }
    assert load_profile("jincheng").sanction("acceptance_failed") is None


def test_self_evaluation_follows_the_budget_year_except_in_leshan() -> None:
    timing = {p.id: p.self_evaluation for p in all_profiles().values()}
    assert timing["jincheng"] is None
    leshan = timing["leshan"]
    assert leshan is not None and (leshan.timing, leshan.window_months) == (
        "after_go_live",
        (12, 24),
    )
    for pid in ("linfen-water", "xiangfen", "xinzhou-transport"):
        rule = timing[pid]
        assert rule is not None and rule.timing == "after_budget_year"


def test_leshan_files_a_performance_monitoring_report_before_each_year_end() -> None:
    rule = load_profile("leshan").performance_monitoring
    assert rule is not None and (rule.due, rule.rule) == ("year_end", "leshan:45")


@pytest.mark.parametrize("profile_id", SHANXI)
def test_a_refused_rectification_suspends_both_kinds_of_money(profile_id: str) -> None:
    rule = load_profile(profile_id).rectification
    assert rule.suspends_construction_funds and rule.suspends_operations_funds
    assert rule.reasons == {"built_against_approval", "unauthorised_change", "acceptance_delayed"}


def test_leshan_rectification_suspends_construction_and_covers_sharing_and_security() -> None:
    rule = load_profile("leshan").rectification
    assert rule.rule == "leshan:47" and rule.suspends_construction_funds
    assert {"data_not_shared", "security_noncompliant"} <= rule.reasons


# --- the system catalogue ---------------------------------------------------------------


def test_only_leshan_requires_asset_registration() -> None:
    rules = {p.id: p.registry.asset_registration for p in all_profiles().values()}
    assert {pid for pid, r in rules.items() if r} == {"leshan"}
    leshan = rules["leshan"]
    assert leshan is not None and leshan.rule == "leshan:8.10"


def test_every_profile_requires_mlps_and_the_government_cloud() -> None:
    for profile in all_profiles().values():
        registry = profile.registry
        assert registry.mlps is not None and registry.crypto_assessment is not None
        assert registry.government_cloud is not None and registry.government_cloud.exempt_allowed
    crypto = load_profile("leshan").registry.crypto_assessment
    assert crypto is not None and crypto.rule == "leshan:51"


def test_private_networks_need_consent_in_shanxi_and_are_refused_in_leshan() -> None:
    rules = {p.id: p.registry.private_network for p in all_profiles().values()}
    assert rules["jincheng"] is None
    leshan = rules["leshan"]
    assert leshan is not None and leshan.consent_by_zh is None
    for pid in ("linfen-water", "xiangfen", "xinzhou-transport"):
        rule = rules[pid]
        assert rule is not None and rule.consent_by_zh


# --- every citation against its seed -----------------------------------------------------


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_citation_carries_its_own_profile_prefix(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert {parse_citation(c).profile for c in profile.citations()} == {profile_id}


@needs_seeds
@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_citation_names_an_article_and_item_the_seed_has(profile_id: str) -> None:
    articles = seed_articles(profile_id)
    for citation in sorted(load_profile(profile_id).citations()):
        parts = parse_citation(citation)
        assert parts.article in articles, f"{citation}: the seed has no article {parts.article}"
        if parts.item is not None:
            assert parts.item in article_items(articles[parts.article]), (
                f"{citation}: article {parts.article} has no item {parts.item}"
            )


@needs_seeds
def test_the_seed_reader_finds_every_article_and_xinzhou_has_no_ninth() -> None:
    counts = {pid: max(seed_articles(pid)) for pid in PROFILE_IDS}
    assert counts == {
        "linfen-water": 33,
        "xiangfen": 40,
        "xinzhou-transport": 34,
        "leshan": 57,
        "jincheng": 32,
    }
    assert 9 not in seed_articles("xinzhou-transport")
    assert article_items(seed_articles("leshan")[8]) == set(range(1, 11))


@needs_seeds
def test_cited_day_counts_appear_in_the_cited_article() -> None:
    for profile in all_profiles().values():
        for rule in (profile.contract_filing_workdays, profile.acceptance_filing_workdays):
            if rule is not None:
                text = seed_articles(profile.id)[parse_citation(rule.rule).article]
                assert re.search(rf"{rule.value}\s*个工作日", text), rule.rule


def test_chinese_numerals_convert() -> None:
    assert [cn_to_int(n) for n in ("十", "十一", "二十", "二十一", "五十七", "一百零一")] == [
        10,
        11,
        20,
        21,
        57,
        101,
    ]


# --- malformed data is rejected ----------------------------------------------------------


def rejects(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PolicyProfile.model_validate(data)
    assert fragment in str(caught.value)


def test_a_rule_without_a_citation_is_rejected() -> None:
    data = raw_profile("jincheng")
    del data["acceptance_filing"]["citation"]
    rejects(data, "citation")
    data = raw_profile("jincheng")
    data["acceptance_filing"]["citation"] = []
    rejects(data, "citation")


def test_a_citation_of_another_profile_is_rejected() -> None:
    data = raw_profile("jincheng")
    data["operations_gates"][0]["citation"] = ["leshan:32"]
    rejects(data, "cites other profiles: leshan:32")


def test_a_malformed_citation_is_rejected() -> None:
    data = raw_profile("jincheng")
    data["acceptance_filing"]["citation"] = ["jincheng:二十一"]
    rejects(data, "citation")


def test_a_negative_day_count_is_rejected() -> None:
    data = raw_profile("jincheng")
    data["acceptance_filing"]["workdays"] = -7
    rejects(data, "greater than or equal to 0")
    with pytest.raises(ValidationError, match="cannot be negative"):
        Rule[int](value=-3, citation=("leshan:31",))


def test_a_float_ratio_is_rejected() -> None:
    data = raw_profile("leshan")
    data["self_adjustment"]["max_ratio"] = 0.15
    rejects(data, "never as floats")


def test_an_unknown_key_is_rejected() -> None:
    data = raw_profile("xiangfen")
    data["contract_filing"]["work_days"] = 5
    rejects(data, "work_days")


def test_a_silently_missing_rule_is_rejected() -> None:
    data = raw_profile("jincheng")
    del data["contract_filing"]
    rejects(data, "contract_filing: missing")
    data = raw_profile("leshan")
    data["not_in_seed"] = [*data["not_in_seed"], "trial_run_months"]
    rejects(data, "trial_run_months: given and listed in not_in_seed")


def test_duplicate_gate_facts_are_rejected() -> None:
    data = raw_profile("jincheng")
    data["operations_gates"].append(copy.deepcopy(data["operations_gates"][0]))
    rejects(data, "duplicate operations_gates")


def test_a_negative_list_item_citing_another_clause_is_rejected() -> None:
    data = raw_profile("leshan")
    data["negative_list"][2]["citation"] = ["leshan:8.4"]
    rejects(data, "must cite its own clause")


def test_an_unknown_gate_fact_is_rejected() -> None:
    data = raw_profile("jincheng")
    data["operations_gates"][0]["fact"] = "blessed_by_mayor"
    rejects(data, "fact")
