"""The Kubernetes manifests in deploy/k8s, checked offline: every resource validates strictly
against the Kubernetes 1.30 schemas (kubernetes-validate), the kustomization lists every file,
each service has web and worker Deployments that migrate in an init container before they
start, with the right commands, probes, resources and a locked-down security context,
autoscalers and disruption budgets that point at real Deployments, the Ingress routes every
path where services/gateway.py does, and the base's Prometheus gives every pod's series the
job and component labels the alert rules expect and sends alerts to its Alertmanager."""

from __future__ import annotations

import functools
import re
import secrets
import shutil
import subprocess
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
def test_each_service_migrates_before_its_web_and_worker_start(name: str) -> None:
    web_pod = _pod(_get("Deployment", f"{name}-web"))
    worker_pod = _pod(_get("Deployment", f"{name}-worker"))
    web, worker = web_pod["containers"][0], worker_pod["containers"][0]
    assert web["args"] == ["web", name, "--bind", "0.0.0.0:8000"]
    assert worker["args"] == ["worker", name, "--metrics-port", "9100"]
    containers = [web, worker]
    # Init containers run to completion before the pod's containers start, so no new pod
    # serves or consumes on a schema older than its code (shared/migrations.py serialises
    # replicas migrating at once).
    for pod in (web_pod, worker_pod):
        init = pod.get("initContainers", [])
        assert [c["args"] for c in init] == [["migrate", name]]
        containers += init
    for container in containers:
        assert container["image"] == IMAGE
        assert "command" not in container, "the image's ENTRYPOINT is `rapport`"
        sources = {next(iter(source.values()))["name"] for source in container.get("envFrom", [])}
        assert sources == {"rapport-config", "rapport-secrets"}
    assert not [r for r in _resources() if r["kind"] == "Job"], "migrations run in init containers"


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
    # Only Prometheus talks to the API server (pod discovery); see the RBAC test below.
    if workload["metadata"]["name"] != "prometheus":
        assert pod.get("automountServiceAccountToken") is False
    for container in pod["containers"] + pod.get("initContainers", []):
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
        read_only = {m["mountPath"] for m in container.get("volumeMounts", []) if m.get("readOnly")}
        for path, volume in mounts.items():
            source = mounts_by_volume[volume]
            if {"configMap", "secret", "projected"} & source.keys():
                assert path in read_only, f"configuration at {path} must be mounted read-only"
            else:
                assert "emptyDir" in source, f"{path} is not an emptyDir"
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
    # The placeholder key (and Twilio and SMTP placeholders) are refused, so the placeholder
    # Secret cannot run for real...
    with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY") as refused:
        load_settings(name, env)
    assert "TWILIO_AUTH_TOKEN" in str(refused.value) and "SMTP_PASSWORD" in str(refused.value)
    # ...and once it is replaced the settings are complete, with external broker and database.
    own = {
        "RAPPORT_SECRET_KEY": secrets.token_urlsafe(48),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "SMTP_PASSWORD": secrets.token_urlsafe(12),
    }
    settings = load_settings(name, {**env, **own})
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.database_url.split("?")[0].endswith(f"/{name}")
    assert settings.broker_url.startswith(("amqp://", "amqps://"))
    assert settings.queue_type == "quorum"


def _is_rapport(workload: dict[str, Any]) -> bool:
    return bool(workload["metadata"]["labels"].get("app.kubernetes.io/name") == "rapport")


def test_rabbitmq_and_postgresql_are_external() -> None:
    images = {
        c["image"]
        for w in _workloads()
        if _is_rapport(w)
        for c in _pod(w)["containers"] + _pod(w).get("initContainers", [])
    }
    assert images == {IMAGE}
    monitoring = {
        c["image"] for w in _workloads() if not _is_rapport(w) for c in _pod(w)["containers"]
    }
    assert monitoring == {"prom/prometheus:v3.5.0", "prom/alertmanager:v0.28.1"}, "pin releases"
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


# --- monitoring: Prometheus labels pods the way the rules expect, Alertmanager mails ------------

MONITORING = K8S / "monitoring"
PROMETHEUS_K8S = MONITORING / "prometheus.yml"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


def _kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


def _prometheus_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PROMETHEUS_K8S.read_text())
    return data


def test_prometheus_loads_the_rules_the_project_tests() -> None:
    copies = sorted((MONITORING / "rules").glob("*.yml"))
    assert [p.name for p in copies] == [p.name for p in RULES]
    for copy, original in zip(copies, RULES, strict=True):
        assert copy.read_text() == original.read_text(), (
            f"{copy.relative_to(ROOT)} differs: cp deploy/prometheus/rules/*.yml {copy.parent}/"
        )


def test_the_generated_config_maps_hold_what_the_pods_mount() -> None:
    generated = {
        g["name"]: {Path(f).name for f in g["files"]}
        for g in _kustomization()["configMapGenerator"]
    }
    for generator in _kustomization()["configMapGenerator"]:
        for file in generator["files"]:
            assert (K8S / file).is_file(), file
    secret_keys = set(_get("Secret", "rapport-secrets")["stringData"])
    mounted = set()
    for workload in _workloads():
        for volume in _pod(workload).get("volumes", []):
            sources = volume.get("projected", {}).get("sources", [volume])
            for source in sources:
                if "configMap" in source:
                    config_map = source["configMap"]
                    assert config_map["name"] in generated, config_map["name"]
                    keys = {item["key"] for item in config_map.get("items", [])}
                    assert keys <= generated[config_map["name"]]
                    mounted.add(config_map["name"])
                secret = source.get("secret")
                if secret:
                    name = secret.get("name") or secret.get("secretName")
                    assert name == "rapport-secrets"
                    assert {item["key"] for item in secret.get("items", [])} <= secret_keys
    assert mounted == set(generated)


def test_the_kubernetes_prometheus_config_is_valid(tmp_path: Path) -> None:
    """promtool checks the file with pod discovery swapped for a static target: Debian's
    promtool is built without Kubernetes discovery. The discovery block itself is checked
    below, and its relabelling is simulated on every pod template."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed; scripts/ensure-services.sh installs it")
    config = _prometheus_config()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    discovery = jobs["rapport"].pop("kubernetes_sd_configs")
    assert discovery == [{"role": "pod", "namespaces": {"names": ["rapport"]}}]
    jobs["rapport"]["static_configs"] = [{"targets": ["10.0.0.1:8000"]}]
    (tmp_path / "rules").mkdir()
    for rule_file in sorted((MONITORING / "rules").glob("*.yml")):
        shutil.copy(rule_file, tmp_path / "rules" / rule_file.name)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rules/rapport.yml" in result.stdout + result.stderr


def _expand(replacement: str, match: re.Match[str]) -> str:
    return re.sub(r"\$\{?(\d+)\}?", lambda m: match.group(int(m.group(1))) or "", replacement)


def _relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' relabelling (the replace, keep and drop actions), on one target."""
    labels = dict(labels)
    for config in configs:
        value = config.get("separator", ";").join(
            labels.get(name, "") for name in config.get("source_labels", [])
        )
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        action = config.get("action", "replace")
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            result = _expand(config.get("replacement", "$1"), match)
            if result:
                labels[config["target_label"]] = result
            else:
                labels.pop(config["target_label"], None)
        assert action in ("keep", "drop", "replace"), f"simulate {action} too"
    return labels


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _discovered(workload: dict[str, Any], job: str) -> list[dict[str, str]]:
    """The targets Kubernetes pod discovery yields for one pod of the workload: one per
    container port, and one without a port for a container that declares none."""
    template = workload["spec"]["template"]
    pod_name = f"{workload['metadata']['name']}-5d8f7c-x2x9q"
    common = {
        "job": job,
        "__metrics_path__": "/metrics",
        "__meta_kubernetes_namespace": "rapport",
        "__meta_kubernetes_pod_name": pod_name,
        **{
            f"__meta_kubernetes_pod_label_{_sanitize(k)}": v
            for k, v in template["metadata"].get("labels", {}).items()
        },
        **{
            f"__meta_kubernetes_pod_annotation_{_sanitize(k)}": v
            for k, v in template["metadata"].get("annotations", {}).items()
        },
    }
    spec = template["spec"]
    targets = []
    for init, containers in ((False, spec["containers"]), (True, spec.get("initContainers", []))):
        for container in containers:
            meta = {
                **common,
                "__meta_kubernetes_pod_container_name": container["name"],
                "__meta_kubernetes_pod_container_init": str(init).lower(),
            }
            ports = container.get("ports", [])
            for port in ports:
                targets.append({
                    **meta,
                    "__address__": f"10.1.2.3:{port['containerPort']}",
                    "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                })  # fmt: skip
            if not ports:
                targets.append({**meta, "__address__": "10.1.2.3"})
    return targets


def _scraped(workload: dict[str, Any]) -> list[dict[str, str]]:
    job = {j["job_name"]: j for j in _prometheus_config()["scrape_configs"]}["rapport"]
    targets = [_relabel(t, job["relabel_configs"]) for t in _discovered(workload, "rapport")]
    return [t for t in targets if t is not None]


@pytest.mark.parametrize(("name", "role", "port"), [
    (name, role, port) for name in SERVICES for role, port in (("web", 8000), ("worker", 9100))
])  # fmt: skip
def test_prometheus_labels_each_pod_with_the_job_and_component_the_rules_expect(
    name: str, role: str, port: int
) -> None:
    deployment = _get("Deployment", f"{name}-{role}")
    targets = _scraped(deployment)
    assert len(targets) == 1, f"one target per pod, got {targets}"
    target = targets[0]
    assert target["job"] == name
    assert target["component"] == role
    assert target["__address__"] == f"10.1.2.3:{port}"
    assert target["__metrics_path__"] == "/metrics"
    assert target["instance"].startswith(f"{name}-{role}-")


def test_the_monitoring_pods_are_not_taken_for_rapport_pods() -> None:
    for name in ("prometheus", "alertmanager"):
        assert _scraped(_get("Deployment", name)) == []


def test_every_job_and_component_the_rules_select_is_produced() -> None:
    produced = {("job", name) for name in SERVICES} | {("component", c) for c in ("web", "worker")}
    produced |= {("job", j["job_name"]) for j in _prometheus_config()["scrape_configs"]}
    selected = set()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                selected |= set(re.findall(r'\b(job|component)="([^"]+)"', str(rule["expr"])))
    assert selected, "the rules select no job or component"
    assert selected <= produced, sorted(selected - produced)


def test_only_prometheus_reads_the_api_server_and_only_pods() -> None:
    role = _get("Role", "prometheus-discovery")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = _get("RoleBinding", "prometheus-discovery")
    assert binding["roleRef"]["name"] == "prometheus-discovery"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prometheus", "namespace": "rapport"}
    ]
    assert _get("ServiceAccount", "prometheus").get("automountServiceAccountToken") is False
    pod = _pod(_get("Deployment", "prometheus"))
    assert pod["serviceAccountName"] == "prometheus"
    assert pod["automountServiceAccountToken"] is True
    tokened = [
        w["metadata"]["name"]
        for w in _workloads()
        if _pod(w).get("automountServiceAccountToken") is not False
    ]
    assert tokened == ["prometheus"]


def test_prometheus_sends_alerts_to_the_alertmanager_which_reads_its_smtp_password() -> None:
    targets = [
        target
        for manager in _prometheus_config()["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    service = _get("Service", "alertmanager")["spec"]
    alertmanager = _get("Deployment", "alertmanager")
    assert (
        service["selector"].items()
        <= alertmanager["spec"]["template"]["metadata"]["labels"].items()
    )
    assert [p["port"] for p in service["ports"]] == [9093]
    container = _pod(alertmanager)["containers"][0]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in container["args"]
    assert _port(container, service["ports"][0]["targetPort"]) == 9093
    config = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())["global"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in _pod(alertmanager)["volumes"] if v["name"] == "config")
    paths = {
        f"{mount['mountPath']}/{item['path']}"
        for source in volume["projected"]["sources"]
        for item in next(iter(source.values()))["items"]
    }
    assert paths == {config["smtp_auth_password_file"], "/etc/alertmanager/alertmanager.yml"}
    prometheus = _pod(_get("Deployment", "prometheus"))["containers"][0]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["args"]
