"""Reading the suite's JetStream stream and its databases directly (checks only)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import asyncpg
import nats
from nats.js.api import DeliverPolicy

from shared.db.session import asyncpg_dsn
from shared.events.bus import STREAM
from tests.e2e.suite import Suite
from tests.support.checks import assert_cloudevent


def check_envelope(envelope: dict[str, Any], source: str) -> None:
    """The suite's one envelope check (tests/support/checks.assert_cloudevent)."""
    assert_cloudevent(envelope, source)


def nats_url(suite: Suite) -> str:
    found = re.search(r"^nats\s+(\S+)", suite.log_path.read_text(errors="replace"), re.M)
    assert found, "make up did not print its NATS URL"
    return found.group(1)


async def stream_event_ids(suite: Suite, subject: str = "govit.>") -> Counter[str]:
    """How many times each event id is in the stream (1 each: nothing doubled)."""
    nc = await nats.connect(nats_url(suite))
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        total = info.state.messages
        sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        seen: Counter[str] = Counter()
        try:
            for _ in range(total):
                try:
                    msg = await sub.next_msg(timeout=2)
                except nats.errors.TimeoutError:
                    break  # fewer messages match the subject than the whole stream holds
                seen[json.loads(msg.data)["id"]] += 1
        finally:
            await sub.unsubscribe()
        return seen
    finally:
        await nc.close()


async def rows(suite: Suite, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(suite.database_url(service)))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()
