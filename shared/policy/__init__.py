"""Policy profiles: the five regulations as typed, cited data.

    from shared.policy import load_profile
    profile = load_profile(project.profile)
    rule = profile.acceptance_filing_workdays  # Rule[int] | None: .value, .citation

See ``profile.py`` for every attribute; each rule carries ``citation`` (``rule`` is
the primary one) and, where it can refuse something, ``violation()``.
"""

from shared.policy.citations import Citation, CitationParts, parse_citation
from shared.policy.loader import PROFILE_IDS, UnknownProfile, all_profiles, load_profile
from shared.policy.profile import PolicyProfile
from shared.policy.rules import Cited, Condition, Requirement, Rule
from shared.policy.sections import (
    FilingRule,
    GateItem,
    MergedPlanRule,
    NegativeListItem,
    RegistryRules,
    SelfAdjustmentRule,
)

__all__ = [
    "PROFILE_IDS",
    "Citation",
    "CitationParts",
    "Cited",
    "Condition",
    "FilingRule",
    "GateItem",
    "MergedPlanRule",
    "NegativeListItem",
    "PolicyProfile",
    "RegistryRules",
    "Requirement",
    "Rule",
    "SelfAdjustmentRule",
    "UnknownProfile",
    "all_profiles",
    "load_profile",
    "parse_citation",
]
