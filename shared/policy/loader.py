"""Loading the profiles: one TOML file per regulation under ``data/``, read once."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import get_args

from shared.errors import GovitError
from shared.policy.profile import PolicyProfile
from shared.policy.rules import ProfileId

PROFILE_IDS: tuple[str, ...] = get_args(ProfileId)


class UnknownProfile(GovitError):
    """A profile id no regulation answers to: the caller's mistake, so 422."""

    def __init__(self, profile_id: str) -> None:
        super().__init__(
            422,
            "unknown_profile",
            f"unknown policy profile {profile_id!r}; known: {', '.join(PROFILE_IDS)}",
            extra={"profile": profile_id, "known_profiles": list(PROFILE_IDS)},
        )
        self.profile_id = profile_id


@cache
def load_profile(profile_id: str) -> PolicyProfile:
    # Checking against the known ids first also keeps the id from naming a path.
    if profile_id not in PROFILE_IDS:
        raise UnknownProfile(profile_id)
    text = files("shared.policy.data").joinpath(f"{profile_id}.toml").read_text("utf-8")
    profile = PolicyProfile.model_validate(tomllib.loads(text))
    if profile.id != profile_id:
        raise ValueError(f"{profile_id}.toml declares id {profile.id!r}")
    return profile


def all_profiles() -> dict[str, PolicyProfile]:
    return {profile_id: load_profile(profile_id) for profile_id in PROFILE_IDS}
