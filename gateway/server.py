"""The gateway's HTTP/1.1 protocol for uvicorn: httptools, refusing in problem+json.

uvicorn answers a request it cannot parse by itself, before the app sees it, in
plain text (``400 Invalid HTTP request received.``). With httptools that is the
fate of every URL of 64 KiB or more (its URL parser keeps offsets in 16 bits),
and until then a URL is buffered without bound. This subclass stops reading a
request target once it passes ``MAX_TARGET_BYTES`` and answers ``414
uri_too_long``, and a header section once it passes ``MAX_HEADER_BYTES`` (many
headers, or one that never ends) and answers ``431 request_header_fields_too_large``
(httptools itself takes headers without bound); any other unparsable request gets
``400 request_malformed``; all as problem+json with the door's answer headers. It
then closes the way a proxy should ("lingering close", as nginx does): it sends its
FIN, reads and drops what the client is still sending for up to ``LINGER_SECONDS``,
then closes. Closing at once with unread input makes the kernel send a reset, and
the client may lose the answer before reading it. Select it with

    uvicorn --http gateway.server:GatewayHttpProtocol ...

(``python -m gateway`` does). It leans on uvicorn's ``HttpToolsProtocol``
internals (``url``, the parser callbacks, ``send_400_response``):
tests/gateway/test_hardening.py runs it over a real socket, so an upgrade that
changes them fails there.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.hardening import (
    MAX_HEADER_BYTES,
    MAX_TARGET_BYTES,
    header_fields_too_large,
    uri_too_long,
    with_answer_headers,
)
from shared.errors import PROBLEM_JSON, GovitError

LINGER_SECONDS = 2.0


class TargetTooLong(Exception):
    """Raised from the parser's URL callback: httptools then fails the request."""


class HeadersTooLarge(Exception):
    """Raised from the parser's header callback: httptools then fails the request."""


class GatewayHttpProtocol(HttpToolsProtocol):
    _refused = False
    _reading_headers = True  # between a request's start and its headers' end
    _unparsed = 0  # bytes received while reading headers (one endless header counts)
    _header_bytes = 0  # the current request's header fields, as parsed
    _headers_too_large = False

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering: what comes after the refusal is dropped
            return
        if self._reading_headers:
            self._unparsed += len(data)
        super().data_received(data)
        if self._reading_headers and self._unparsed > MAX_HEADER_BYTES and not self._refused:
            self._headers_too_large = True  # still no end of the headers in sight
            self.send_400_response("header section too large")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            raise TargetTooLong

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_bytes > MAX_HEADER_BYTES:
            self._headers_too_large = True
            raise HeadersTooLarge

    def on_headers_complete(self) -> None:
        self._reading_headers, self._unparsed = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers = True  # the next request on this connection

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"")) > MAX_TARGET_BYTES:
            error = uri_too_long()
        elif self._headers_too_large:
            error = header_fields_too_large()
        else:
            error = GovitError(400, "request_malformed", "the request is not valid HTTP/1.1")
        body = json.dumps(error.problem()).encode()
        headers = with_answer_headers(
            [
                *self.server_state.default_headers,
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
        )
        content = [STATUS_LINE[error.status]]
        for name, value in headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"\r\n", body])
        self.transport.write(b"".join(content))
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
