"""The real-topology deployment files, checked without Docker.

docker-compose.yml must validate and give every service its migrate, web and worker containers
with working settings; deploy/gateway/nginx.conf must route every path exactly as
services.gateway.owner_of does; Prometheus must accept its configuration and scrape every
process. docker-compose and promtool come from Debian packages (scripts/ensure-services.sh).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.gateway import ROUTES, owner_of
from shared.config import SERVICES, load_settings

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "gateway" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; scripts/ensure-services.sh installs it")
    return path


def _run(
    *argv: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError:
        # PyYAML is no dependency of Rapport, but Debian's docker-compose is a Python program
        # built on it: let its interpreter turn the YAML into JSON.
        compose = Path(_tool("docker-compose"))
        shebang = compose.read_text(errors="replace").partition("\n")[0]
        if not shebang.startswith("#!"):
            pytest.fail(f"{compose} is not a Python script; install PyYAML to read YAML")
        interpreter = shebang[2:].strip().split()
        script = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        result = _run(*interpreter, "-c", script, stdin=text)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return yaml.safe_load(text)


# --- docker-compose.yml --------------------------------------------------------------------------


# A key of the operator's own: the one value compose has no default for.
OWN_KEY = secrets.token_urlsafe(48)


@pytest.fixture(scope="module", params=["defaults", ".env.example"])
def env_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run compose on its built-in defaults (plus the signing key, which has none), and on
    .env.example copied to .env."""
    if request.param == ".env.example":
        return ROOT / ".env.example"
    defaults = tmp_path_factory.mktemp("compose") / "defaults.env"
    defaults.write_text(f"RAPPORT_SECRET_KEY={OWN_KEY}\n")
    return defaults


def test_compose_will_not_start_without_a_signing_key(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose(empty, "config", "-q")
    assert result.returncode != 0
    assert "set RAPPORT_SECRET_KEY in .env" in result.stderr


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Neither the caller's shell variables nor a developer's .env may leak into the check.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    compose = _tool("docker-compose")
    return _run(compose, "--env-file", str(env_file), "-f", "docker-compose.yml", *args, env=env)


def test_the_compose_file_is_valid(env_file: Path) -> None:
    result = _compose(env_file, "config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


@pytest.fixture(scope="module")
def compose_services(env_file: Path) -> dict[str, Any]:
    """The services of docker-compose.yml as compose resolves them (anchors, defaults)."""
    result = _compose(env_file, "config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    services: dict[str, Any] = _load_yaml(result.stdout)["services"]
    return services


def test_env_example_lists_every_variable_of_the_deployment(
    compose_services: dict[str, Any],
) -> None:
    interpolated = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    read_by_services = {
        key
        for name in SERVICES
        for role in ("migrate", "web", "worker")
        for key in compose_services[f"{name}-{role}"]["environment"]
    }
    listed = set(re.findall(r"(?m)^#?\s*(\w+)=", (ROOT / ".env.example").read_text()))
    missing = (interpolated | read_by_services) - listed
    assert not missing, f".env.example does not mention {sorted(missing)}"


def _healthcheck_command(service: dict[str, Any]) -> str:
    check = service.get("healthcheck") or {}
    assert not check.get("disable"), "healthcheck is disabled"
    test = check.get("test")
    assert test, "no healthcheck"
    return " ".join(test) if isinstance(test, list) else str(test)


def _conditions(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # the short form means "started", nothing more
        return {name: "service_started" for name in depends}
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_migrates_once_then_runs_web_and_worker(
    compose_services: dict[str, Any], name: str
) -> None:
    missing = {f"{name}-{role}" for role in ("migrate", "web", "worker")} - set(compose_services)
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"
    migrate = compose_services[f"{name}-migrate"]
    web = compose_services[f"{name}-web"]
    worker = compose_services[f"{name}-worker"]

    assert migrate["command"] == ["migrate", name]
    assert migrate.get("restart", "no") == "no", "a one-shot migration must not be restarted"
    assert _conditions(migrate).get("postgres") == "service_healthy"

    assert web["command"][:2] == ["web", name]
    assert "0.0.0.0:8000" in web["command"], "the gateway reaches web containers on port 8000"
    assert "localhost:8000/healthz" in _healthcheck_command(web).replace("127.0.0.1", "localhost")

    assert worker["command"] == ["worker", name]
    assert str(worker["environment"].get("RAPPORT_METRICS_PORT")) == "9100"
    assert "localhost:9100/metrics" in _healthcheck_command(worker).replace(
        "127.0.0.1", "localhost"
    )

    for process in (web, worker):
        assert _conditions(process) == {
            f"{name}-migrate": "service_completed_successfully",
            "rabbitmq": "service_healthy",
            "postgres": "service_healthy",
        }


@pytest.mark.parametrize("name", SERVICES)
def test_the_compose_environment_is_accepted_by_the_settings_loader(
    compose_services: dict[str, Any], env_file: Path, name: str
) -> None:
    for role in ("migrate", "web", "worker"):
        env = {
            k: "" if v is None else str(v)
            for k, v in compose_services[f"{name}-{role}"]["environment"].items()
        }
        assert env.get("RAPPORT_PRODUCTION") == "1", f"{name}-{role} must run in production mode"
        if env_file.name == ".env.example":
            # .env.example's key is published: a copy left unedited must not run.
            with pytest.raises(ValueError, match="RAPPORT_SECRET_KEY is a value published"):
                load_settings(name, env)
            env["RAPPORT_SECRET_KEY"] = OWN_KEY
            with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN is a placeholder"):
                load_settings(name, env)
            env["TWILIO_AUTH_TOKEN"] = secrets.token_hex(16)  # as Twilio issues them
        settings = load_settings(name, env)
        assert settings.database_url.startswith("postgresql+psycopg://rapport:")
        assert settings.database_url.endswith(f"@postgres:5432/{name}")
        assert settings.broker_url.startswith("amqp://rapport:")
        assert settings.broker_url.endswith("@rabbitmq:5672//")
        assert settings.queue_type == "quorum"
        assert env.get("SMTP_HOST") and env.get("SMTP_PORT")
        # The services log in with what the broker and the database were set up with.
        broker_password = settings.broker_url.split("@")[0].rsplit(":", 1)[1]
        assert (
            broker_password == compose_services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"]
        )
        db_password = settings.database_url.split("@")[0].rsplit(":", 1)[1]
        assert db_password == compose_services["postgres"]["environment"]["RAPPORT_DB_PASSWORD"]


def test_infrastructure_is_healthchecked_and_the_gateway_waits_for_the_web_tier(
    compose_services: dict[str, Any],
) -> None:
    assert "rabbitmq-diagnostics" in _healthcheck_command(compose_services["rabbitmq"])
    assert "pg_isready" in _healthcheck_command(compose_services["postgres"])
    gateway = compose_services["gateway"]
    assert {f"{name}-web" for name in SERVICES} <= set(_conditions(gateway))
    assert _published(gateway["ports"]) == {(8080, 80)}, gateway["ports"]


def _published(ports: list[Any]) -> set[tuple[int, int]]:
    """(host, container) pairs from compose's long form or "[ip:]host:container[/proto]"."""
    pairs = set()
    for port in ports:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            host, container = str(port).split("/")[0].split(":")[-2:]
            pairs.add((int(host), int(container)))
    return pairs


# --- deploy/gateway/nginx.conf -------------------------------------------------------------------

LOCATION = re.compile(r"\blocation\s+(?:(=|\^~|~\*?)\s*)?(\S+)\s*\{")
SET_VARIABLE = re.compile(r"\bset\s+\$(\w+)\s+(\S+?);")
PROXY_PASS = re.compile(r"\bproxy_pass\s+(\S+?);")
NAMED_TARGET = re.compile(r"\berror_page\s+[\d\s]+=\s*(@\w+)\s*;")
WEB_UPSTREAM = re.compile(r"^https?://(\w+)-web:8000/?$")


@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "^~", "~" or "~*"
    path: str  # a URI prefix or exact URI, or "@name"
    body: str

    @property
    def named(self) -> bool:
        return self.path.startswith("@")


def _without_comments(text: str) -> str:
    return re.sub(r"(?m)(^|\s)#[^\n]*", r"\1", text)


def _parse_nginx(text: str) -> tuple[list[Location], dict[str, str]]:
    text = _without_comments(text)
    locations = []
    for match in LOCATION.finditer(text):
        depth, end = 1, match.end()
        while depth:
            assert end < len(text), f"unbalanced braces after {match.group(0)!r}"
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        locations.append(
            Location(match.group(1) or "", match.group(2), text[match.end() : end - 1])
        )
    variables = dict(SET_VARIABLE.findall(text))
    return locations, variables


@pytest.fixture(scope="module")
def nginx() -> tuple[list[Location], dict[str, str]]:
    return _parse_nginx(NGINX_CONF.read_text())


def _target(location: Location, variables: dict[str, str]) -> str | None:
    """The service a location proxies to, or None when it answers by itself."""
    passes = PROXY_PASS.findall(location.body)
    if not passes:
        return None
    assert len(set(passes)) == 1, f"location {location.path} proxies to several places: {passes}"
    url = passes[0]
    if url.startswith("$"):
        assert url[1:] in variables, f"location {location.path}: {url} is never set"
        url = variables[url[1:]]
    match = WEB_UPSTREAM.match(url)
    assert match, f"location {location.path} proxies to {url}, not to a service's web:8000"
    return match.group(1)


def _select(locations: list[Location], path: str) -> Location:
    """nginx's choice among exact and prefix locations: an exact match, else the longest
    prefix (with regex locations absent, ^~ changes nothing)."""
    for location in locations:
        if location.modifier == "=" and location.path == path:
            return location
    prefixes = [
        loc
        for loc in locations
        if loc.modifier in ("", "^~") and not loc.named and path.startswith(loc.path)
    ]
    assert prefixes, f"no location matches {path}"
    return max(prefixes, key=lambda loc: len(loc.path))


def test_the_gateway_uses_no_regex_locations(nginx: tuple[list[Location], dict[str, str]]) -> None:
    # A regex location is checked after the prefixes and can override the longest match.
    locations, _ = nginx
    regexes = [f"{loc.modifier} {loc.path}" for loc in locations if loc.modifier.startswith("~")]
    assert not regexes, f"regex locations break longest-prefix routing: {regexes}"


@pytest.mark.parametrize(("prefix", "owner"), ROUTES)
def test_every_route_prefix_has_a_location_proxying_to_its_owner(
    nginx: tuple[list[Location], dict[str, str]], prefix: str, owner: str
) -> None:
    locations, variables = nginx
    candidates = [
        loc
        for loc in locations
        if not loc.named and loc.modifier != "=" and loc.path.rstrip("/") == prefix.rstrip("/")
    ]
    assert candidates, f"deploy/gateway/nginx.conf has no prefix location for {prefix}"
    assert {_target(loc, variables) for loc in candidates} == {owner}


def test_no_location_routes_to_a_service_other_than_its_owner(
    nginx: tuple[list[Location], dict[str, str]],
) -> None:
    locations, variables = nginx
    # A named location serves requests handed over by another location's error_page.
    named_owner = {}
    for location in locations:
        for name in NAMED_TARGET.findall(location.body):
            named_owner[name] = owner_of(location.path)
    wrong = []
    for location in locations:
        target = _target(location, variables)
        if target is None:
            continue
        owner = named_owner.get(location.path) if location.named else owner_of(location.path)
        assert owner is not None, f"named location {location.path} is never reached"
        if target != owner:
            wrong.append(f"{location.modifier} {location.path} -> {target} (owner: {owner})")
    assert not wrong, "locations routing to the wrong service:\n" + "\n".join(wrong)


def _probe_paths() -> list[str]:
    paths = ["/", "/healthz", "/readyz", "/api/v1/appointments", "/api/v1/appointments/1"]
    for prefix, _owner in ROUTES:
        base = prefix.rstrip("/")
        if base:  # around each prefix: itself, below it, and look-alikes that are not below it
            paths += [base, f"{base}/", f"{base}/1", f"{base}/1/sub", f"{base}-other", f"{base}x/1"]
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize("path", _probe_paths())
def test_nginx_sends_each_path_where_the_embedded_router_does(
    nginx: tuple[list[Location], dict[str, str]], path: str
) -> None:
    locations, variables = nginx
    location = _select(locations, path)
    assert _target(location, variables) == owner_of(path), (
        f"{path} matches `location {location.modifier} {location.path}`"
    )


def test_metrics_are_not_exposed_through_the_gateway(
    nginx: tuple[list[Location], dict[str, str]],
) -> None:
    locations, variables = nginx
    location = _select(locations, "/metrics")
    assert location.modifier == "=", "/metrics must have its own exact location"
    assert _target(location, variables) is None
    assert re.search(r"\breturn\s+404\s*;", location.body)


def test_forwarding_headers_reach_every_service(
    nginx: tuple[list[Location], dict[str, str]],
) -> None:
    locations, _ = nginx
    text = _without_comments(NGINX_CONF.read_text())
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID"):
        assert re.search(rf"\bproxy_set_header\s+{header}\s", text), f"{header} is not set"
    for value in re.findall(r"\bproxy_set_header\s+X-Twilio-Signature\s+(\S+?);", text):
        assert value == "$http_x_twilio_signature", "the Twilio signature must pass unchanged"
    # proxy_set_header in a location replaces every inherited one, forwarding headers included.
    overriding = [loc.path for loc in locations if "proxy_set_header" in loc.body]
    assert not overriding, f"locations dropping the inherited headers: {overriding}"
    assert re.search(r"\bclient_max_body_size\s+1m\s*;", text)


# --- deploy/prometheus ---------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config_and_its_rules() -> None:
    result = _run(_tool("promtool"), "check", "config", str(PROMETHEUS_CONF.relative_to(ROOT)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool check config failed:\n{output}"
    # rule_files must resolve locally too, or rules would go unchecked here.
    assert "rules/rapport.yml" in output, f"promtool did not check the rules:\n{output}"


def test_prometheus_scrapes_web_and_worker_of_every_service_and_rabbitmq() -> None:
    config = _load_yaml(PROMETHEUS_CONF.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in SERVICES:
        assert name in jobs, f"no scrape job {name}"
        job = jobs[name]
        targets = {
            f"{entry}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for entry in sd["names"]
        } | {target for static in job.get("static_configs", []) for target in static["targets"]}
        assert {f"{name}-web:8000", f"{name}-worker:9100"} <= targets, targets
        labelled = json.dumps(job.get("relabel_configs", [])) + json.dumps(
            job.get("static_configs", [])
        )
        assert "component" in labelled, f"job {name} does not label web and worker"
    assert ["rabbitmq:15692"] in [s["targets"] for s in jobs["rabbitmq"].get("static_configs", [])]


def test_alertmanager_runs_on_its_config_and_prometheus_waits_for_it(
    compose_services: dict[str, Any],
) -> None:
    alertmanager = compose_services["alertmanager"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    mounted = set()
    for volume in alertmanager["volumes"]:  # compose v1 prints "src:dst:mode", v2 a mapping
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounted.add((Path(ROOT, source).resolve(), target))
    assert (ROOT / "deploy" / "alertmanager", "/etc/alertmanager") in mounted
    assert _published(alertmanager["ports"]) == {(9093, 9093)}
    assert "mailpit" in _conditions(alertmanager)
    assert "alertmanager" in _conditions(compose_services["prometheus"])
