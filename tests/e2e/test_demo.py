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

    second = run_demo(running_suite)
    assert "created this run: nothing" in second, second
    assert re.search(r"^\S+\s+\d+\s+\d+\s+\d+$", second, re.M)
    assert first.split("created this run")[0] == second.split("created this run")[0]
