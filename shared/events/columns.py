"""Columns more than one service's projection keeps of the same event's data.

A service that projects ``govit.approval.project.*`` keeps at least the project, who
owns it (``org``, ``co_orgs`` and ``jurisdiction``: what ``shared.auth.access``
decides on), the regulation it falls under (``profile``, ``profile_version``), its
name and status, named like the event's data (docs/event-payloads.md); it adds the
fields it needs and ``version``::

    projects = Table("projects", metadata, *project_columns(), ..., Column("version", ...))

Each call makes new columns (a column belongs to one table). The table's migration
still spells them out: a migration is history and never changes with the kit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY


def project_columns() -> list[Column[Any]]:
    return [
        Column("id", Uuid, primary_key=True),
        Column("org", Uuid, nullable=False),
        Column("co_orgs", ARRAY(Uuid), nullable=False, server_default="{}"),
        Column("jurisdiction", Text, nullable=False),
        Column("profile", Text, nullable=False),
        Column("profile_version", Text, nullable=False),
        Column("name", Text, nullable=False),
        Column("status", Text, nullable=False),
    ]
