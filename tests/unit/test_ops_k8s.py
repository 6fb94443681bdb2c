"""The Kubernetes manifests in deploy/k8s, checked offline: every resource validates strictly
against the Kubernetes 1.30 schemas (kubernetes-validate), the kustomization lists every file,
each service has its migrate Job, web and worker Deployments with the right commands, probes,
resources and a locked-down security context, autoscalers and disruption budgets that point at
real Deployments, and the Ingress routes every path where services/gateway.py does."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.gateway import ROUTES, owner_of
from shared.config import SERVICES, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
IMAGE = "rapport:latest"
UID = 10001  # the rapport user of the Dockerfile


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@functools.cache
def _parsed() -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs: list[dict[str, Any]] = []
    for path in _manifest_files():
        docs += [doc for doc in yaml.load_all(path.read_text(), Loader=loader) if doc]  # noqa: S506
    return tuple(docs)


def _resources() -> list[dict[str, Any]]:
    """Every resource of the manifests (parsed once; treat as read-only)."""
    return list(_parsed())


def _get(kind: str, name: str) -> dict[str, Any]:
    found = [r for r in _resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _id(resource: dict[str, Any]) -> str:
    return f"{resource['kind']}/{resource['metadata']['name']}"


# --- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", _resources(), ids=_id)
def test_every_resource_validates_strictly(resource: dict[str, Any]) -> None:
    # Strict: unknown fields (a misspelt probe, say) are errors, and a kind without a schema
    # raises SchemaNotFoundError instead of passing unchecked.
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    assert resource["metadata"].get("namespace", "rapport") == "rapport"


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = _get("Deployment", "scheduler-web")
    container = dict(deployment["spec"]["template"]["spec"]["containers"][0])
    container["readinesProbe"] = container.pop("readinessProbe")
    broken = {
        **deployment,
        "spec": {
            **deployment["spec"],
            "template": {
                **deployment["spec"]["template"],
                "spec": {**deployment["spec"]["template"]["spec"], "containers": [container]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(p.name for p in _manifest_files())
    assert kustomization.get("namespace") == "rapport"
    assert {image["name"] for image in kustomization.get("images", [])} == {"rapport"}


def test_resource_names_are_unique_per_kind() -> None:
    keys = [_id(r) for r in _resources()]
    assert len(keys) == len(set(keys))


# --- workloads ------------------------------------------------------------------------------------


def _pod(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def _workloads() -> list[dict[str, Any]]:
    return [r for r in _resources() if r["kind"] in ("Deployment", "Job")]


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert numbers, f"container {container['name']} has no port named {port}"
    return int(numbers[0])


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_its_migrate_job_web_and_worker(name: str) -> None:
    job = _pod(_get("Job", f"{name}-migrate"))["containers"][0]
    web = _pod(_get("Deployment", f"{name}-web"))["containers"][0]
    worker = _pod(_get("Deployment", f"{name}-worker"))["containers"][0]
    assert job["args"] == ["migrate", name]
    assert web["args"] == ["web", name, "--bind", "0.0.0.0:8000"]
    assert worker["args"] == ["worker", name, "--metrics-port", "9100"]
    for container in (job, web, worker):
        assert container["image"] == IMAGE
        assert "command" not in container, "the image's ENTRYPOINT is `rapport`"
        sources = {next(iter(source.values()))["name"] for source in container.get("envFrom", [])}
        assert sources == {"rapport-config", "rapport-secrets"}


@pytest.mark.parametrize("name", SERVICES)
def test_web_probes_use_readyz_and_healthz_on_the_served_port(name: str) -> None:
    web = _pod(_get("Deployment", f"{name}-web"))["containers"][0]
    readiness = web["readinessProbe"]["httpGet"]
    liveness = web["livenessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz"
    assert liveness["path"] == "/healthz"
    assert _port(web, readiness["port"]) == _port(web, liveness["port"]) == 8000


@pytest.mark.parametrize("name", SERVICES)
def test_the_worker_is_checked_through_its_metrics_port(name: str) -> None:
    worker = _pod(_get("Deployment", f"{name}-worker"))["containers"][0]
    probe = worker["livenessProbe"]["httpGet"]
    assert _port(worker, probe["port"]) == 9100
    assert probe["path"] == "/metrics"


@pytest.mark.parametrize("workload", _workloads(), ids=_id)
def test_every_container_has_resources_and_runs_locked_down(workload: dict[str, Any]) -> None:
    pod = _pod(workload)
    pod_security = pod.get("securityContext", {})
    mounts_by_volume = {v["name"]: v for v in pod.get("volumes", [])}
    assert pod.get("automountServiceAccountToken") is False
    for container in pod["containers"]:
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources.get(kind, {}).keys(), f"{kind} missing"
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True
        assert security.get("runAsUser", UID) != 0
        assert security.get("readOnlyRootFilesystem") is True
        assert security.get("allowPrivilegeEscalation") is False
        assert "ALL" in security.get("capabilities", {}).get("drop", [])
        # With a read-only root filesystem, everything written goes to an emptyDir.
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts
        for path, volume in mounts.items():
            assert "emptyDir" in mounts_by_volume[volume], f"{path} is not an emptyDir"
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            directory = env["PROMETHEUS_MULTIPROC_DIR"]
            assert any(directory.startswith(path.rstrip("/") + "/") for path in mounts), (
                "the web's multiprocess metrics directory must sit on a writable emptyDir"
            )


@pytest.mark.parametrize("name", SERVICES)
def test_web_gathers_metrics_from_every_gunicorn_worker(name: str) -> None:
    web = _pod(_get("Deployment", f"{name}-web"))["containers"][0]
    assert "PROMETHEUS_MULTIPROC_DIR" in {e["name"] for e in web.get("env", [])}


@pytest.mark.parametrize("name", SERVICES)
def test_autoscalers_budgets_and_the_service_point_at_real_pods(name: str) -> None:
    for role in ("web", "worker"):
        deployment = _get("Deployment", f"{name}-{role}")
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        hpa = _get("HorizontalPodAutoscaler", f"{name}-{role}")["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{name}-{role}",
        }
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
        assert [m["resource"]["name"] for m in hpa["metrics"] if m["type"] == "Resource"] == ["cpu"]
        pdb = _get("PodDisruptionBudget", f"{name}-{role}")["spec"]
        assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
        assert pdb.get("minAvailable", 0) >= 1 or "maxUnavailable" in pdb
    service = _get("Service", f"{name}-web")["spec"]
    web = _pod(_get("Deployment", f"{name}-web"))["containers"][0]
    web_labels = _get("Deployment", f"{name}-web")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= web_labels.items()
    assert [(p["port"], _port(web, p["targetPort"])) for p in service["ports"]] == [(8000, 8000)]


# --- configuration --------------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    config = _get("ConfigMap", "rapport-config")["data"]
    secret = _get("Secret", "rapport-secrets")["stringData"]
    assert not config.keys() & secret.keys()
    assert not {k for k in config if "PASSWORD" in k or "TOKEN" in k or k.endswith("_URL")} - {
        "RAPPORT_PUBLIC_URL"
    }, "credentials belong in the Secret"
    return {**config, **secret}


@pytest.mark.parametrize("name", SERVICES)
def test_the_config_and_secret_make_complete_settings(name: str) -> None:
    env = _environment()
    assert env["RAPPORT_PRODUCTION"] == "1"
    # The placeholder key is refused, so the placeholder Secret cannot run for real...
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY"):
        load_settings(name, env)
    # ...and once it is replaced the settings are complete, with external broker and database.
    settings = load_settings(name, {**env, "RAPPORT_SECRET_KEY": "k" * 48})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.database_url.split("?")[0].endswith(f"/{name}")
    assert settings.broker_url.startswith(("amqp://", "amqps://"))
    assert settings.queue_type == "quorum"


def test_rabbitmq_and_postgresql_are_external() -> None:
    images = {
        c["image"]
        for w in _workloads()
        for c in _pod(w)["containers"] + _pod(w).get("initContainers", [])
    }
    assert images == {IMAGE}
    assert not [r for r in _resources() if r["kind"] == "StatefulSet"]


# --- ingress --------------------------------------------------------------------------------------


def _ingress_paths() -> list[tuple[str, str, str]]:
    """(path, pathType, backend service) of the Ingress."""
    ingress = _get("Ingress", "rapport")
    rules = ingress["spec"]["rules"]
    assert len(rules) == 1
    return [
        (p["path"], p["pathType"], p["backend"]["service"]["name"])
        for p in rules[0]["http"]["paths"]
    ]


def _route(path: str) -> str:
    """Kubernetes Ingress matching: Exact beats Prefix; among Prefix paths the longest wins, and
    a Prefix matches by whole path elements."""
    paths = _ingress_paths()
    for candidate, kind, backend in paths:
        if kind == "Exact" and candidate == path:
            return backend
    matches = [
        (candidate, backend)
        for candidate, kind, backend in paths
        if kind == "Prefix"
        and (
            candidate == "/"
            or path == candidate.rstrip("/")
            or path.startswith(candidate.rstrip("/") + "/")
        )
    ]
    assert matches, f"no Ingress path matches {path}"
    return max(matches, key=lambda m: len(m[0]))[1]


def test_the_ingress_has_a_prefix_path_for_every_route_to_its_owner() -> None:
    paths = {(p, kind): backend for p, kind, backend in _ingress_paths()}
    for prefix, owner in ROUTES:
        assert paths.get((prefix, "Prefix")) == f"{owner}-web", prefix
    assert all(kind in ("Prefix", "Exact") for _p, kind, _b in _ingress_paths())


def _probe_paths() -> list[str]:
    paths = ["/", "/healthz", "/readyz", "/api/v1/appointments", "/api/v1/appointments/1"]
    for prefix, _owner in ROUTES:
        base = prefix.rstrip("/")
        if base:
            paths += [base, f"{base}/", f"{base}/1", f"{base}/1/sub", f"{base}-other", f"{base}x/1"]
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize("path", _probe_paths())
def test_the_ingress_sends_each_path_where_the_embedded_router_does(path: str) -> None:
    assert _route(path) == f"{owner_of(path)}-web"


def test_metrics_are_not_exposed_through_the_ingress() -> None:
    backend = _route("/metrics")
    assert not backend.endswith("-web")
    service = _get("Service", backend)["spec"]
    assert "selector" not in service, "the /metrics backend must have no pods behind it"


def test_every_ingress_backend_exists() -> None:
    services = {r["metadata"]["name"]: r for r in _resources() if r["kind"] == "Service"}
    ingress = _get("Ingress", "rapport")
    for _path, _kind, backend in _ingress_paths():
        assert backend in services
    ports = {
        p["backend"]["service"]["port"]["number"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert ports <= {8000, 80}
