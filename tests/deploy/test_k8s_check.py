"""``make k8s-check`` (deploy/k8s/check.py): it passes on the overlays as committed and
fails on a manifest that is broken in each of the ways it checks (a kustomize error,
a field Kubernetes does not know, a CloudNativePG Cluster the operator would refuse,
a policy finding not triaged). The rendered overlays are then read as a DevOps
reviewer would: what each workload gets, who may talk to whom.

The tools live in their own venv (``make k8s-tools``, .govit/k8s-tools); the first
run installs them (about a minute), later runs take ~15 s for this file.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
TOOLS = REPO / ".govit" / "k8s-tools" / "bin"
SERVICES = ("registry", "approval", "filing", "funding", "evaluation")


@pytest.fixture(scope="module")
def tools() -> Path:
    subprocess.run(["make", "-s", "k8s-tools"], cwd=REPO, check=True, capture_output=True)
    return TOOLS


def run_check(tools: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools / "python"), str(K8S / "check.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tools: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    out = tmp_path_factory.mktemp("k8s-check")
    done = run_check(tools, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "k8s-check: passed" in done.stdout
    return {
        env: [o for o in yaml.safe_load_all((out / f"{env}.yaml").read_text()) if o]
        for env in ("dev", "prod")
    }


def overlay(tmp_path: Path, patches: str) -> Path:
    """A kustomization on top of base/ with the given patches (kustomize wants a
    relative path to the base)."""
    folder = tmp_path / "broken"
    folder.mkdir()
    base = os.path.relpath(K8S / "base", folder)
    (folder / "kustomization.yaml").write_text(f"resources: [{base}]\npatches:\n{patches}")
    return folder


def of_kind(objects: list[Any], kind: str) -> dict[str, Any]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workload_pods(objects: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]


# --- the check itself ----------------------------------------------------------------------


def test_the_committed_overlays_pass(rendered: dict[str, list[Any]]) -> None:
    for objects in rendered.values():
        kinds = {o["kind"] for o in objects}
        assert {
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "Job",
            "NetworkPolicy",
            "Ingress",
            "StatefulSet",
            "Cluster",
            "ConfigMap",
        } <= kinds


def test_a_broken_manifest_fails_the_check_for_each_reason(tools: Path, tmp_path: Path) -> None:
    broken = overlay(
        tmp_path,
        """  - target: {kind: Deployment, name: registry}
    patch: |
      - {op: add, path: /spec/template/spec/containers/0/readinessProbee, value: {}}
      - op: replace
        path: /spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation
        value: true
      - {op: add, path: /spec/template/spec/containers/0/securityContext/privileged, value: true}
  - target: {kind: Cluster, name: funding-db}
    patch: |
      - {op: replace, path: /spec/maxSyncReplicas, value: 3}
  - target: {kind: Cluster, name: filing-db}
    patch: |
      - {op: add, path: /spec/instance, value: 2}
""",
    )
    done = run_check(tools, "--out", str(tmp_path / "out"), str(broken))
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    assert "k8s-check: FAILED" in lines
    # Kubernetes' own schema, strict: the misspelt field, for both versions checked.
    assert any(
        "Deployment/registry (Kubernetes 1.30)" in line and "readinessProbee" in line
        for line in lines
    )
    # The CloudNativePG Cluster: the operator's rule and the subset schema.
    assert any(
        "Cluster/funding-db: maxSyncReplicas 3 must be below instances 3" in line for line in lines
    )
    assert any("Cluster/filing-db" in line and "'instance'" in line for line in lines)
    # checkov: the policy findings, which the triage file does not accept.
    assert any("CKV_K8S_16" in line and "registry" in line for line in lines)
    assert any("CKV_K8S_20" in line and "registry" in line for line in lines)


def test_a_manifest_that_does_not_render_fails_the_check(tools: Path, tmp_path: Path) -> None:
    broken = overlay(
        tmp_path,
        """  - target: {kind: Deployment, name: registry}
    patch: |
      - {op: replace, path: /spec/template/spec/no/such/path, value: 1}
""",
    )
    done = run_check(tools, "--out", str(tmp_path / "out"), str(broken))
    assert done.returncode == 1
    assert f"FAIL render {broken}" in done.stdout


def test_an_unknown_kind_is_an_error_not_skipped(tools: Path, tmp_path: Path) -> None:
    folder = tmp_path / "crd"
    folder.mkdir()
    (folder / "thing.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"
    )
    (folder / "kustomization.yaml").write_text("resources: [thing.yaml]\n")
    done = run_check(tools, "--out", str(tmp_path / "out"), str(folder))
    assert done.returncode == 1
    assert "Widget/w: no schema for example.com/v1 Widget" in done.stdout


def test_a_triaged_check_that_no_longer_finds_anything_fails(tools: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    (folder / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: b}\n"
    )
    (folder / "kustomization.yaml").write_text("resources: [config.yaml]\n")
    done = run_check(tools, "--out", str(tmp_path / "out"), str(folder))
    assert done.returncode == 1
    assert "ok   schema clean.yaml: 1 objects, 0 errors" in done.stdout
    for check in yaml.safe_load((K8S / "checkov-triage.yaml").read_text()):
        assert f"{check} is triaged but no longer found" in done.stdout


def test_every_triaged_finding_says_why() -> None:
    triage = yaml.safe_load((K8S / "checkov-triage.yaml").read_text())
    assert triage, "the triage file lists the accepted findings"
    for check, why in triage.items():
        assert check.startswith("CKV_") and len(why.split()) >= 10, check


# --- what the rendered overlays give a DevOps team -----------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_pod_runs_locked_down(rendered: dict[str, list[Any]], env: str) -> None:
    for name, pod in workload_pods(rendered[env]):
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert security["runAsUser"] >= 10000, name
            assert {"requests", "limits"} <= container["resources"].keys(), name
            assert container["resources"]["limits"]["memory"], name


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_services_and_gateway_have_probes_shutdown_pdb_hpa(
    rendered: dict[str, list[Any]], env: str
) -> None:
    objects = rendered[env]
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == {*SERVICES, "gateway"}
    pdbs, hpas, services = (
        of_kind(objects, k) for k in ("PodDisruptionBudget", "HorizontalPodAutoscaler", "Service")
    )
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        ready = "/readyz" if name != "gateway" else "/healthz"  # gateway.yaml says why
        assert container["readinessProbe"]["httpGet"]["path"] == ready, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep", name
        assert "--timeout-graceful-shutdown" in container["args"], name
        graceful = int(
            container["args"][container["args"].index("--timeout-graceful-shutdown") + 1]
        )
        assert pod["terminationGracePeriodSeconds"] > graceful + 5, name
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name  # noqa: S108
        assert {v["name"]: v for v in pod["volumes"]}["tmp"]["emptyDir"], name
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app": name}
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
        assert services[name]["spec"]["selector"] == {"app": name}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_service_has_its_own_database_and_migration(
    rendered: dict[str, list[Any]], env: str
) -> None:
    objects = rendered[env]
    clusters, jobs, deployments = (of_kind(objects, k) for k in ("Cluster", "Job", "Deployment"))
    assert set(clusters) == {f"{s}-db" for s in SERVICES}
    assert not [o for o in objects if o["kind"] == "Secret"], "no secret values are committed"
    for service in SERVICES:
        assert clusters[f"{service}-db"]["spec"]["bootstrap"]["initdb"] == {
            "database": service,
            "owner": service,
        }
        job = jobs[f"migrate-{service}"]["spec"]["template"]["spec"]["containers"][0]
        assert job["args"] == ["python", "-m", "shared.db.migrate", service, "upgrade"]
        app = deployments[service]["spec"]["template"]["spec"]["containers"][0]
        for container in (job, app):
            env_vars = {e["name"]: e for e in container["env"]}
            refs = {
                n: e["valueFrom"]["secretKeyRef"] for n, e in env_vars.items() if "valueFrom" in e
            }
            assert refs == {
                "DB_USER": {"name": f"{service}-db-app", "key": "username"},
                "DB_PASSWORD": {"name": f"{service}-db-app", "key": "password"},
            }
            assert env_vars["GOVIT_DATABASE_URL"]["value"] == (
                f"postgresql+asyncpg://$(DB_USER):$(DB_PASSWORD)@{service}-db-rw:5432/{service}"
            )
            names = list(env_vars)  # $(VAR) expands only from variables defined earlier
            assert names.index("DB_PASSWORD") < names.index("GOVIT_DATABASE_URL")


def test_production_replicates_and_spreads(rendered: dict[str, list[Any]]) -> None:
    objects = rendered["prod"]
    nats = of_kind(objects, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    config = of_kind(objects, "ConfigMap")
    conf = config["nats-config"]["data"]["nats.conf"]
    assert "sync_interval: always" in conf
    assert all(f"nats-{i}.nats-headless:6222" in conf for i in range(3))
    assert config["govit-nats"]["data"]["GOVIT_STREAM_REPLICAS"] == "3"
    for cluster in of_kind(objects, "Cluster").values():
        assert cluster["spec"]["instances"] == 3
        assert cluster["spec"]["minSyncReplicas"] == 1
    for name, deployment in of_kind(objects, "Deployment").items():
        assert deployment["spec"]["replicas"] >= 3, name
        anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["labelSelector"]["matchLabels"] == {"app": name}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3


def test_development_runs_one_of_everything(rendered: dict[str, list[Any]]) -> None:
    objects = rendered["dev"]
    assert of_kind(objects, "StatefulSet")["nats"]["spec"]["replicas"] == 1
    config = of_kind(objects, "ConfigMap")
    assert "cluster {" not in config["nats-config"]["data"]["nats.conf"]
    assert "sync_interval: always" in config["nats-config"]["data"]["nats.conf"]
    assert config["govit-nats"]["data"]["GOVIT_STREAM_REPLICAS"] == "1"
    assert {c["spec"]["instances"] for c in of_kind(objects, "Cluster").values()} == {1}
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"} == {
        "govit-dev"
    }


def _allowed(policy: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return policy["spec"].get(direction, [])


def test_network_policies_open_only_the_gateway_to_the_ingress(
    rendered: dict[str, list[Any]],
) -> None:
    policies = of_kind(rendered["prod"], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    from_ingress = [
        name
        for name, policy in policies.items()
        for rule in _allowed(policy, "ingress")
        for peer in rule.get("from", [])
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    ]
    assert from_ingress == ["gateway-ingress"]
    assert policies["gateway-ingress"]["spec"]["podSelector"] == {"matchLabels": {"app": "gateway"}}
    # A service is reached by the gateway and Prometheus only, on its port.
    (rule,) = _allowed(policies["services-ingress"], "ingress")
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert {"podSelector": {"matchLabels": {"app": "gateway"}}} in rule["from"]
    ingress = of_kind(rendered["prod"], "Ingress")["gateway"]
    backends = {
        p["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert backends == {"gateway"}


def test_a_service_reaches_only_its_database_nats_dns_and_the_jwks(
    rendered: dict[str, list[Any]],
) -> None:
    policies = of_kind(rendered["prod"], "NetworkPolicy")
    for service in SERVICES:
        rules = _allowed(policies[f"{service}-egress"], "egress")
        assert [(r["to"], r["ports"]) for r in rules] == [
            (
                [{"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{service}-db"}}}],
                [{"port": 5432, "protocol": "TCP"}],
            ),
            (
                [{"podSelector": {"matchLabels": {"app": "nats"}}}],
                [{"port": 4222, "protocol": "TCP"}],
            ),
        ]
        # Its database answers it and its migration, not the other services.
        (clients, _operator) = _allowed(policies[f"{service}-db-ingress"], "ingress")
        selector = clients["from"][0]["podSelector"]["matchExpressions"][0]
        assert selector["values"] == [service, f"migrate-{service}"]
    # Every other policy that lets a service out: DNS (53) and HTTPS to the JWKS address.
    pods = {"app.kubernetes.io/component": "service"}
    other_ports = set()
    for name, policy in policies.items():
        if name.endswith("-egress") and name.removesuffix("-egress") in SERVICES:
            continue
        selector = policy["spec"]["podSelector"]
        selects_services = (
            selector == {}
            or any(
                e["key"] == "app.kubernetes.io/component" and "service" in e.get("values", [])
                for e in selector.get("matchExpressions", [])
            )
            or selector.get("matchLabels") == pods
        )
        if selects_services:
            for rule in _allowed(policy, "egress"):
                other_ports |= {p["port"] for p in rule["ports"]}
    assert other_ports == {53, 443}


def container_env(objects: list[Any], container: dict[str, Any]) -> dict[str, str]:
    """What the container's process sees: its ConfigMaps, then its env; secret values
    stand in as ``secret-<key>``, $(VAR) expanded as the kubelet does."""
    configmaps = of_kind(objects, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]["data"]
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], var["value"])
        elif "secretKeyRef" in var["valueFrom"]:
            env[var["name"]] = f"secret-{var['valueFrom']['secretKeyRef']['key']}"
    return env


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_apps_accept_the_configuration_they_are_given(
    rendered: dict[str, list[Any]], env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[env]
    services = of_kind(objects, "Service")
    for name, deployment in of_kind(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        variables = container_env(objects, container)
        for key in [k for k in os.environ if k.startswith("GOVIT_") or k.endswith("_URL")]:
            monkeypatch.delenv(key)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        module = importlib.import_module(
            "gateway.settings" if name == "gateway" else f"services.{name}.app"
        )
        settings_class = next(v for k, v in vars(module).items() if k.lower() == f"{name}settings")
        settings = settings_class()  # the production checks run here (shared/settings.py)
        assert settings.service_name == name
        assert settings.environment == ("production" if env == "prod" else "development")
        assert settings.jwks_url or settings.jwks_file
        nats = urlsplit(settings.nats_url)
        assert (nats.hostname, nats.port) == ("nats", 4222)
        assert nats.hostname in services
        if name == "gateway":
            for service, url in settings.upstream_urls().items():
                parts = urlsplit(url)
                assert parts.hostname == service and parts.hostname in services
                ports = [p["port"] for p in services[service]["spec"]["ports"]]
                assert parts.port in ports
        else:
            database = urlsplit(settings.database_url)
            assert database.scheme == "postgresql+asyncpg"
            assert (database.username, database.password) == ("secret-username", "secret-password")
            assert database.hostname == f"{name}-db-rw" and database.path == f"/{name}"
