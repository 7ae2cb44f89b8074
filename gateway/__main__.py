"""``python -m gateway``: serve the gateway on ``GOVIT_HOST``:``GOVIT_PORT``."""

from __future__ import annotations

import uvicorn

from gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(
        "gateway.app:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
