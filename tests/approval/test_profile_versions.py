"""A project keeps the rules it was approved under: once a newer version of its profile
is in force, a project stamped with the older one is still pre-screened, decided and its
changes classified by that older version (shared.policy's versioned loading).

The newer version is a fixture, laid out as the loader documents a regulation change
(``shared/policy/loader.py``): the old file kept unchanged as ``leshan@2022-1.toml``, the
new one as ``leshan.toml``, in a folder of its own; the shipped data is not touched.
The app reads it through the same ``load_profile`` every request uses.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.policy import ProfileLibrary, load_profile, loader, profile_versions
from tests.approval.conftest import (
    World,
    add_materials,
    approval,
    create,
    give_opinions,
)
from tests.support.checks import problem

OLD, NEW = "2022-1", "2026-1"
EXACT_15 = {
    "new_total": "6000000.00",
    "adjusted_amount": "900000.00",  # 15 % of 6,000,000.00: the old limit exactly
    "goals_changed": False,
    "content": "调整部分建设内容",
    "reason": "技术方案优化",
}


def _swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old  # the fixture changes exactly what it says
    return text.replace(old, new)


@pytest.fixture
def newer_leshan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """leshan 2026-1 in force: the merged plan up to 3,000,000 (was 5,000,000) and a
    self-adjustment up to 10 % (was 15 %); 2022-1 kept as ``leshan@2022-1.toml``."""
    shipped = files("shared.policy.data")
    for name in ("leshan", "xiangfen", "jincheng", "linfen-water", "xinzhou-transport"):
        (tmp_path / f"{name}.toml").write_text(shipped.joinpath(f"{name}.toml").read_text("utf-8"))
    current = (tmp_path / "leshan.toml").read_text("utf-8")
    assert f'version = "{OLD}"' in current
    shutil.copyfile(tmp_path / "leshan.toml", tmp_path / f"leshan@{OLD}.toml")
    newer = _swap(current, f'version = "{OLD}"', f'version = "{NEW}"')
    newer = _swap(newer, "issued_on = 2022-06-25", "issued_on = 2026-06-01")
    newer = _swap(newer, "effective_from = 2022-06-25", "effective_from = 2026-06-01")
    newer = _swap(newer, 'max_total_investment = "5000000"', 'max_total_investment = "3000000"')
    newer = _swap(newer, 'max_ratio = "0.15"', 'max_ratio = "0.10"')
    (tmp_path / "leshan.toml").write_text(newer, "utf-8")
    monkeypatch.setattr(loader, "_LIBRARY", ProfileLibrary(tmp_path))
    load_profile.cache_clear()
    profile_versions.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    load_profile.cache_clear()
    profile_versions.cache_clear()


def test_the_fixture_is_a_real_newer_version(newer_leshan: Path) -> None:
    assert load_profile("leshan").version == NEW
    assert [p.version for p in profile_versions("leshan")] == [OLD, NEW]
    old, new = load_profile("leshan", OLD), load_profile("leshan", NEW)
    assert old.merged_implementation_plan and new.merged_implementation_plan
    assert str(old.merged_implementation_plan.max_total_investment) == "5000000"
    assert str(new.merged_implementation_plan.max_total_investment) == "3000000"
    assert old.self_adjustment and new.self_adjustment
    assert old.self_adjustment.max_ratio > new.self_adjustment.max_ratio


async def _plan_project(client: httpx.AsyncClient, leshan: World) -> dict[str, Any]:
    project = await create(
        client,
        leshan,
        total_investment="5000000.00",
        annual_budgets=[{"year": 2026, "amount": "5000000.00"}],
    )
    await add_materials(client, leshan, project["id"], ("implementation_plan",))
    return project


async def _approve(client: httpx.AsyncClient, leshan: World, project: dict[str, Any]) -> None:
    path = f"/api/v1/projects/{project['id']}"
    response = await client.post(f"{path}/submit", headers=leshan.unit)
    assert response.status_code == 200, response.text
    await give_opinions(client, leshan, project["id"])
    response = await client.post(f"{path}/decision", json=approval(), headers=leshan.authority)
    assert response.status_code == 200, response.text


async def test_a_project_is_prescreened_and_decided_by_the_version_it_was_stamped_with(
    client: httpx.AsyncClient, leshan: World, request: pytest.FixtureRequest
) -> None:
    # stamped under 2022-1, the version in force when they were created
    old_plan = await _plan_project(client, leshan)
    old_change = await create(client, leshan)
    await add_materials(client, leshan, old_change["id"])
    assert old_plan["profile_version"] == old_change["profile_version"] == OLD

    request.getfixturevalue("newer_leshan")  # now leshan 2026-1 is in force

    new_plan = await _plan_project(client, leshan)
    new_change = await create(client, leshan)
    await add_materials(client, leshan, new_change["id"])
    assert new_plan["profile_version"] == new_change["profile_version"] == NEW

    # leshan:18, 5,000,000.00 with one implementation plan: allowed under 2022-1 only
    refused = await client.post(f"/api/v1/projects/{new_plan['id']}/submit", headers=leshan.unit)
    violations = problem(refused, 422, "prescreen_failed")["violations"]
    assert [v["rule"] for v in violations] == ["leshan:18", "leshan:18", "leshan:18.3"]
    assert "3000000" in violations[-1]["message_en"]
    kept = await client.post(f"/api/v1/projects/{old_plan['id']}/submit", headers=leshan.unit)
    assert kept.status_code == 200, kept.text

    # decided after the new version exists; leshan:29 at 15 %: a self-adjustment under
    # 2022-1, a major change under 2026-1's 10 %
    for project, expected, rule in (
        (old_change, "self_adjustment", "leshan:29"),
        (new_change, "major_change", "leshan:28"),
    ):
        await _approve(client, leshan, project)
        path = f"/api/v1/projects/{project['id']}"
        detail = (await client.get(path, headers=leshan.unit)).json()
        assert (
            detail["status"] == "approved"
            and detail["profile_version"] == project["profile_version"]
        )
        response = await client.post(f"{path}/changes", json=EXACT_15, headers=leshan.unit)
        assert response.status_code == 201, response.text
        assert (response.json()["classification"], response.json()["rule"]) == (expected, rule)


async def test_the_projects_version_stays_when_the_profile_moves_on(
    client: httpx.AsyncClient, leshan: World, request: pytest.FixtureRequest
) -> None:
    project = await create(client, leshan)
    request.getfixturevalue("newer_leshan")
    detail = (await client.get(f"/api/v1/projects/{project['id']}", headers=leshan.unit)).json()
    assert detail["profile_version"] == OLD
    history = await client.get(f"/api/v1/projects/{project['id']}/history", headers=leshan.unit)
    assert history.status_code == 200
