"""``make demo`` against the session's suite: loads, summarises, and adds nothing the
second time."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from shared.settings import REPO_ROOT
from tests.e2e.suite import Suite


def run_demo(suite: Suite) -> str:
    env = {**os.environ, "GOVIT_HOME": str(suite.home)}
    done = subprocess.run(
        [sys.executable, "-m", "deploy.local.demo", "--url", suite.url],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_make_demo_loads_a_lively_sample_once(running_suite: Suite) -> None:
    first = run_demo(running_suite)
    assert "govit demo: what the suite holds now" in first
    systems = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\S+)\s+\d+\s+(\d+)\s+\d+$", first, re.M)
    }
    assert set(systems) == {"linfen-water", "xiangfen", "xinzhou-transport", "leshan", "jincheng"}
    assert sum(systems.values()) >= 300, systems

    statuses = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^([a-z_]+)\s+(?:\d+\s+){5}(\d+)$", first, re.M)
    }
    for status in (
        "draft",
        "submitted",
        "approved",
        "rejected",
        "in_construction",
        "in_operation",
        "suspended",
    ):
        assert statuses.get(status), (status, first)
    assert sum(statuses.values()) >= 40, statuses
    disbursed = re.search(r"^money disbursed:\s+([\d,.]+) yuan$", first, re.M)
    assert disbursed and float(disbursed.group(1).replace(",", "")) > 0, first
    assert re.search(r"^open rectifications:\s+[1-9]", first, re.M), first

    second = run_demo(running_suite)
    assert "created this run: nothing" in second, second
    # the same catalogue, the same projects in the same states, the same money (the
    # scheduler may have found more overdue obligations since)
    assert first.split("overdue obligations")[0] == second.split("overdue obligations")[0]
