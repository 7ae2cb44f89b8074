"""CloudEvents 1.0 structured-JSON envelopes (the ``cloudevents`` SDK builds and reads them).

The event type is ``govit.<service>.<entity>.<verb>`` and is also the NATS subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgi_correlation_id import correlation_id
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.errors import GovitError
from shared.events.schemas import validate_data
from shared.ids import new_id

_FORMAT = JSONFormat()


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    data: dict[str, Any]
    request_id: str | None

    def envelope(self) -> dict[str, Any]:
        """The structured-JSON form stored in the outbox and sent on the wire."""
        attributes: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "datacontenttype": "application/json",
        }
        if self.subject:
            attributes["subject"] = self.subject
        if self.time:
            attributes["time"] = self.time
        if self.request_id:
            attributes["requestid"] = self.request_id
        wire: dict[str, Any] = json.loads(_FORMAT.write(CloudEvent(attributes, self.data)))
        return wire


def new_event(
    type: str,
    *,
    source: str,
    data: dict[str, Any],
    time: datetime,
    subject: str | None = None,
    validate: bool = True,
) -> Event:
    """Build an event after checking ``data`` against the type's JSON Schema.

    ``validate=False`` is for the rest of a bulk batch whose first event was checked.
    """
    if validate:
        validate_data(type, data)
    return Event(
        id=str(new_id()),
        type=type,
        source=source,
        subject=subject,
        time=time,
        data=data,
        request_id=correlation_id.get(),
    )


def decode_event(raw: bytes) -> Event:
    """Parse a wire message; a malformed one raises ``GovitError`` (dead-lettered)."""
    try:
        parsed = _FORMAT.read(None, raw)
    except Exception as exc:  # the SDK raises several unrelated types
        raise GovitError(400, "event_malformed", f"not a CloudEvent: {exc}") from exc
    data = parsed.get_data()
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise GovitError(400, "event_malformed", "event data is not JSON") from exc
    if not isinstance(data, dict):
        raise GovitError(400, "event_malformed", "event data must be a JSON object")
    event_type = parsed.get_type()
    validate_data(event_type, data)
    return Event(
        id=parsed.get_id(),
        type=event_type,
        source=parsed.get_source(),
        subject=parsed.get_subject(),
        time=parsed.get_time(),
        data=data,
        request_id=parsed.get_attributes().get("requestid"),
    )
