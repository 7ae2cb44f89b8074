"""Loading the profiles, by version: a project keeps the rules it was approved under.

``data/<id>.toml`` is the version in force now. When a regulation changes, its old
file is kept, unchanged, as ``data/<id>@<version>.toml`` (the version it declares)
before the new one replaces ``<id>.toml``, so every version ever used still loads::

    load_profile("leshan")                      # the current version
    load_profile("leshan", project.profile_version)   # the one a project was approved under
    profile_in_force("leshan", date(2023, 3, 1))      # the one in force on a day

Each file declares its ``id``, ``version`` and ``effective_from``; the loader checks
that they match the file's name. Files are read once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from datetime import date
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import get_args

from shared.errors import GovitError
from shared.policy.profile import PolicyProfile
from shared.policy.rules import ProfileId

PROFILE_IDS: tuple[str, ...] = get_args(ProfileId)
_VERSION = re.compile(r"^\d{4}-\d+$")


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


class UnknownProfileVersion(GovitError):
    def __init__(self, profile_id: str, version: str, known: list[str]) -> None:
        super().__init__(
            422,
            "unknown_profile_version",
            f"policy profile {profile_id} has no version {version!r}; known: {', '.join(known)}",
            extra={"profile": profile_id, "version": version, "known_versions": known},
        )


class NoProfileInForce(GovitError):
    def __init__(self, profile_id: str, on: date, first: date) -> None:
        super().__init__(
            422,
            "no_profile_in_force",
            f"policy profile {profile_id} took effect on {first}, after {on}",
            extra={"profile": profile_id, "on": str(on), "effective_from": str(first)},
        )


class ProfileLibrary:
    """Every version of every profile under one folder (the package's ``data/``)."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def load(self, profile_id: str, version: str | None = None) -> PolicyProfile:
        # Checking against the known ids (and versions against their pattern) first
        # also keeps either from naming a path.
        if profile_id not in PROFILE_IDS:
            raise UnknownProfile(profile_id)
        current = self._read(f"{profile_id}.toml", profile_id)
        if version is None or version == current.version:
            return current
        archived = self.root.joinpath(f"{profile_id}@{version}.toml")
        if not _VERSION.match(version) or not archived.is_file():
            known = [p.version for p in self.versions(profile_id)]
            raise UnknownProfileVersion(profile_id, version, known)
        return self._read(archived.name, profile_id, version)

    def versions(self, profile_id: str) -> list[PolicyProfile]:
        """Every version, oldest first (by the day each took effect)."""
        current = self.load(profile_id)
        older = [
            self._read(f.name, profile_id, f.name[len(profile_id) + 1 : -len(".toml")])
            for f in self.root.iterdir()
            if f.name.startswith(f"{profile_id}@") and f.name.endswith(".toml")
        ]
        return sorted([*older, current], key=lambda p: p.effective_from)

    def in_force(self, profile_id: str, on: date) -> PolicyProfile:
        return _in_force(self.versions(profile_id), profile_id, on)

    def _read(self, name: str, profile_id: str, version: str | None = None) -> PolicyProfile:
        text = self.root.joinpath(name).read_text("utf-8")
        profile = PolicyProfile.model_validate(tomllib.loads(text))
        if profile.id != profile_id:
            raise ValueError(f"{name} declares id {profile.id!r}")
        if version is not None and profile.version != version:
            raise ValueError(f"{name} declares version {profile.version!r}")
        return profile


_LIBRARY = ProfileLibrary(files("shared.policy.data"))


@cache
def load_profile(profile_id: str, version: str | None = None) -> PolicyProfile:
    """The profile's current version, or the named one (422 if there is none)."""
    return _LIBRARY.load(profile_id, version)


@cache
def profile_versions(profile_id: str) -> tuple[PolicyProfile, ...]:
    return tuple(_LIBRARY.versions(profile_id))


def profile_in_force(profile_id: str, on: date) -> PolicyProfile:
    """The version in force on ``on`` (the latest whose ``effective_from`` is not after it)."""
    return _in_force(profile_versions(profile_id), profile_id, on)


def _in_force(versions: Sequence[PolicyProfile], profile_id: str, on: date) -> PolicyProfile:
    taken = [p for p in versions if p.effective_from <= on]
    if not taken:
        raise NoProfileInForce(profile_id, on, versions[0].effective_from)
    return taken[-1]


def all_profiles() -> dict[str, PolicyProfile]:
    return {profile_id: load_profile(profile_id) for profile_id in PROFILE_IDS}
