#!/bin/sh
# The image's entrypoint (Dockerfile). What runs:
#   <command ...>                 that command (Kubernetes `args`: uvicorn ..., python -m ...)
#   registry|approval|filing|funding|evaluation|gateway
#                                 that server, on GOVIT_PORT (services 8080, gateway 8000)
#   migrate <service>             alembic upgrade head for that service's database
#   (nothing)                     the server named by GOVIT_SERVICE_NAME
# The server is exec'd, so it is PID 1 and receives SIGTERM itself: uvicorn stops
# accepting, finishes in-flight requests (--timeout-graceful-shutdown), then the
# lifespan stops the relay and consumers (shared/app.py).
set -eu

what="${1:-${GOVIT_SERVICE_NAME:-}}"
[ "$#" -gt 0 ] && shift

grace="${GOVIT_GRACEFUL_SHUTDOWN_SECONDS:-20}"
common="--host 0.0.0.0 --no-access-log --no-server-header --timeout-graceful-shutdown $grace"

case "$what" in
    registry|approval|filing|funding|evaluation)
        # shellcheck disable=SC2086 # $common is a list of options
        exec uvicorn --factory "services.$what.app:build_app" --port "${GOVIT_PORT:-8080}" $common "$@"
        ;;
    gateway)
        # shellcheck disable=SC2086
        exec uvicorn --factory gateway.app:build_app --port "${GOVIT_PORT:-8000}" $common \
            --http gateway.server:GatewayHttpProtocol "$@"
        ;;
    migrate)
        exec python -m shared.db.migrate "${1:?migrate needs a service name}" upgrade
        ;;
    "")
        echo "govit image: name a service (registry, approval, filing, funding, evaluation," \
            "gateway), 'migrate <service>', a command, or set GOVIT_SERVICE_NAME" >&2
        exit 64
        ;;
    *)
        exec "$what" "$@"
        ;;
esac
