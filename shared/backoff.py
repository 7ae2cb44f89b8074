"""Restart with capped exponential backoff that starts over after a stable run.

One rule for everything that restarts what died: ``make up``'s process supervisor
(``deploy.local.keep_running``) and the event workers' (``shared.events.workers``).
"""

from __future__ import annotations


def next_attempt(attempt: int, uptime: float, stable_after: float) -> int:
    """The restart number after a run of ``uptime`` seconds (``attempt``: the last one,
    0 before any): 1 again once the run lasted ``stable_after`` seconds."""
    return 1 if uptime >= stable_after else attempt + 1


def backoff(attempt: int, first: float, cap: float) -> float:
    """The wait before restart number ``attempt`` (1, 2, …): doubling, at most ``cap``."""
    return float(min(cap, first * 2 ** (attempt - 1)))
