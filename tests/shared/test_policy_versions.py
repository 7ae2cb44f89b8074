"""Policy profiles by version (shared/policy/loader.py): a project keeps the rules it was
approved under, after the regulation changes (Prozorro's dated rules).

No regulation has changed yet, so the change is made here, in a copy of the shipped
profiles in a temporary folder: the old file is kept as ``<id>@<version>.toml`` and a
new version with a different rule replaces ``<id>.toml``.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from importlib.resources import as_file, files
from pathlib import Path

import pytest

from shared.errors import GovitError
from shared.policy import (
    PROFILE_IDS,
    ProfileLibrary,
    load_profile,
    profile_in_force,
    profile_versions,
)


@pytest.fixture
def changed(tmp_path: Path) -> ProfileLibrary:
    """jincheng's acceptance-filing deadline changes on 2027-01-01 (version 2026-1)."""
    with as_file(files("shared.policy.data")) as shipped:
        data = tmp_path / "data"
        shutil.copytree(shipped, data)
    current = data / "jincheng.toml"
    old = current.read_text("utf-8")
    (data / "jincheng@2019-1.toml").write_text(old, "utf-8")  # kept, unchanged
    rule = load_profile("jincheng").acceptance_filing
    assert rule is not None
    new = re.sub(r'(?m)^version = "2019-1"$', 'version = "2026-1"', old)
    new = re.sub(r"(?m)^effective_from = 2019-12-13", "effective_from = 2027-01-01", new)
    section = new.index("[acceptance_filing]")
    days = re.compile(r"(?m)^(within_workdays|workdays|days) = (\d+)")
    found = days.search(new, section)
    assert found is not None, "the acceptance_filing section names its deadline"
    changed_days = int(found.group(2)) + 10
    new = new[: found.start()] + f"{found.group(1)} = {changed_days}" + new[found.end() :]
    assert new != old
    current.write_text(new, "utf-8")
    return ProfileLibrary(data)


def test_an_old_version_still_loads_after_a_rule_changes(changed: ProfileLibrary) -> None:
    old, new = changed.load("jincheng", "2019-1"), changed.load("jincheng")
    assert (old.version, new.version) == ("2019-1", "2026-1")
    assert old == load_profile("jincheng")  # exactly the rules it was approved under
    assert old.acceptance_filing != new.acceptance_filing
    assert changed.load("jincheng", "2026-1") == new
    assert [p.version for p in changed.versions("jincheng")] == ["2019-1", "2026-1"]


def test_the_version_in_force_on_a_day(changed: ProfileLibrary) -> None:
    assert changed.in_force("jincheng", date(2026, 12, 31)).version == "2019-1"
    assert changed.in_force("jincheng", date(2027, 1, 1)).version == "2026-1"
    with pytest.raises(GovitError) as refused:
        changed.in_force("jincheng", date(2019, 12, 12))
    assert (refused.value.status, refused.value.code) == (422, "no_profile_in_force")


@pytest.mark.parametrize("version", ["2018-1", "../leshan", "2019-1.toml", "", "2019-1/x"])
def test_a_version_that_never_was_is_a_422(changed: ProfileLibrary, version: str) -> None:
    with pytest.raises(GovitError) as refused:
        changed.load("jincheng", version)
    assert (refused.value.status, refused.value.code) == (422, "unknown_profile_version")
    assert refused.value.extra["known_versions"] == ["2019-1", "2026-1"]


def test_a_kept_file_must_be_the_version_its_name_says(changed: ProfileLibrary) -> None:
    kept = Path(str(changed.root)) / "leshan@2021-1.toml"
    kept.write_text((Path(str(changed.root)) / "leshan.toml").read_text("utf-8"), "utf-8")
    with pytest.raises(ValueError, match="declares version"):
        changed.load("leshan", "2021-1")


@pytest.mark.parametrize("profile_id", PROFILE_IDS)
def test_every_shipped_version_loads(profile_id: str) -> None:
    versions = profile_versions(profile_id)
    assert versions[-1] == load_profile(profile_id) == load_profile(profile_id, None)
    for profile in versions:
        assert load_profile(profile_id, profile.version) == profile
        assert profile_in_force(profile_id, profile.effective_from) == profile
    assert len({p.version for p in versions}) == len(versions)
