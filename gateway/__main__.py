"""``python -m gateway``: serve the gateway on ``GOVIT_HOST``:``GOVIT_PORT``.

The uvicorn command lines of ``make up`` (deploy/local/up.py) and the Kubernetes
manifest (deploy/k8s/base/gateway.yaml) carry the same two server options:
``--http gateway.server:GatewayHttpProtocol`` and ``--no-server-header``.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from gateway.settings import GatewaySettings

HTTP_PROTOCOL = "gateway.server:GatewayHttpProtocol"


def server_options(settings: GatewaySettings) -> dict[str, Any]:
    """uvicorn's options for the gateway (besides the app)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": HTTP_PROTOCOL,  # problem+json for what uvicorn refuses itself (414, 400)
        "server_header": False,  # no `Server: uvicorn`
        "access_log": False,
        "log_level": settings.log_level.lower(),
    }


def main() -> None:
    uvicorn.run("gateway.app:build_app", factory=True, **server_options(GatewaySettings()))


if __name__ == "__main__":
    main()
