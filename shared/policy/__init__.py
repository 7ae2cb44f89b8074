"""Policy profiles: the five regulations as typed, cited data.

    from shared.policy import load_profile
    profile = load_profile(project.profile, project.profile_version)  # None: current
    rule = profile.acceptance_filing_workdays  # Rule[int] | None: .value, .citation

See ``profile.py`` for every attribute; each rule carries ``citation`` (``rule`` is
the primary one) and, where it can refuse something, ``violation()``.
"""

from shared.policy.citations import Citation, CitationParts, parse_citation
from shared.policy.loader import (
    PROFILE_IDS,
    NoProfileInForce,
    ProfileLibrary,
    UnknownProfile,
    UnknownProfileVersion,
    all_profiles,
    load_profile,
    profile_in_force,
    profile_versions,
)
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
    "NoProfileInForce",
    "PolicyProfile",
    "ProfileLibrary",
    "RegistryRules",
    "Requirement",
    "Rule",
    "SelfAdjustmentRule",
    "UnknownProfile",
    "UnknownProfileVersion",
    "all_profiles",
    "load_profile",
    "parse_citation",
    "profile_in_force",
    "profile_versions",
]
