"""The gateway's HTTP/1.1 protocol for uvicorn: httptools, refusing in problem+json.

uvicorn answers a request it cannot parse by itself, before the app sees it, in
plain text (``400 Invalid HTTP request received.``). With httptools that is the
fate of every URL of 64 KiB or more (its URL parser keeps offsets in 16 bits),
and until then a URL is buffered without bound. This subclass stops reading a
request target once it passes ``MAX_TARGET_BYTES`` and answers ``414
uri_too_long``; any other unparsable request gets ``400 request_malformed``; both
as problem+json with the door's answer headers. It then closes the way a proxy
should ("lingering close", as nginx does): it sends its FIN, reads and drops what
the client is still sending for up to ``LINGER_SECONDS``, then closes. Closing at
once with unread input makes the kernel send a reset, and the client may lose the
answer before reading it. Select it with

    uvicorn --http gateway.server:GatewayHttpProtocol ...

(``python -m gateway`` does). It leans on uvicorn's ``HttpToolsProtocol``
internals (``url``, ``send_400_response``): tests/gateway/test_hardening.py runs
it over a real socket, so an upgrade that changes them fails there.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.hardening import MAX_TARGET_BYTES, uri_too_long, with_answer_headers
from shared.errors import PROBLEM_JSON, GovitError

LINGER_SECONDS = 2.0


class TargetTooLong(Exception):
    """Raised from the parser's URL callback: httptools then fails the request."""


class GatewayHttpProtocol(HttpToolsProtocol):
    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering: what comes after the refusal is dropped
            return
        super().data_received(data)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            raise TargetTooLong

    def send_400_response(self, msg: str) -> None:
        if len(getattr(self, "url", b"")) > MAX_TARGET_BYTES:
            error = uri_too_long()
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
