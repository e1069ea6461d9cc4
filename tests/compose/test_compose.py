"""compose/: the stack's structure, and every variable it sets is one the programs read.

There is no Docker engine on the test machines, so the YAML, the env files and
the Dockerfile are parsed and checked against the code that reads them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
SERVER_SERVICES = ("migrate", "web", "worker", "beat")
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def settings_names() -> set[str]:
    """Every NAME perfmon/settings.py reads with env_str/env_int/... (and so also NAME_FILE)."""
    tree = ast.parse((ROOT / "perfmon" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("env_")
                and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    return names


def agent_names() -> set[str]:
    """Upper-case string constants of agents/ (the variables it reads are among them)."""
    names = set()
    for path in (ROOT / "agents").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.match(node.value):
                names.add(node.value)
    return names


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key] = value
    return values


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def service_env(compose: dict, name: str) -> dict[str, str]:
    service = compose["services"][name]
    files = service.get("env_file", [])
    files = [files] if isinstance(files, str | dict) else files
    values = {}
    for entry in files:
        path = COMPOSE / (entry if isinstance(entry, str) else entry["path"])
        if path.exists() or (isinstance(entry, dict) and entry.get("required", True)):
            values.update(env_file(path))
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    values.update(environment)
    return values


def dockerfile_env(path: Path) -> set[str]:
    text = path.read_text().replace("\\\n", " ")
    return {m for line in text.splitlines() if line.startswith("ENV ")
            for m in re.findall(r"([A-Z][A-Z0-9_]*)=", line)}


def test_the_stack_has_every_service_with_health_checks_and_volumes(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "keycloak", "migrate", "web", "worker", "beat", "agent"}
    for name in ("postgres", "redis", "keycloak", "web", "worker", "beat"):
        check = services[name]["healthcheck"]["test"]
        assert check and check[0] in ("CMD", "CMD-SHELL"), name
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    assert services["postgres"]["volumes"] and services["redis"]["volumes"]
    # The server waits for a migrated database; web for Keycloak too; the agent for a healthy web.
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["depends_on"]["keycloak"]["condition"] == "service_healthy"
    assert services["agent"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_images_are_built_from_the_repository(compose):
    for name in SERVER_SERVICES:
        build = compose["services"][name]["build"]
        assert (COMPOSE / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]) == COMPOSE / "Dockerfile"
    assert compose["services"]["web"]["command"][0] == "gunicorn"
    assert compose["services"]["worker"]["command"][:4] == ["celery", "-A", "perfmon", "worker"]
    assert compose["services"]["beat"]["command"][:4] == ["celery", "-A", "perfmon", "beat"]
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert "collectstatic" in dockerfile and "USER perfmon" in dockerfile
    for path in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.M):
        for part in path.split():
            assert (ROOT / part).exists(), part
    agent = compose["services"]["agent"]["build"]
    assert agent["dockerfile"] == "compose/agent/Dockerfile"
    require((ROOT / agent["dockerfile"]).exists(), "compose/agent/Dockerfile")


def test_keycloak_imports_the_perfscale_realm(compose):
    keycloak = compose["services"]["keycloak"]
    assert "--import-realm" in keycloak["command"]
    [mount] = keycloak["volumes"]
    source, target = mount.split(":")[:2]
    assert target.startswith("/opt/keycloak/data/import/")
    realm = yaml.safe_load((COMPOSE / source).read_text())  # JSON is YAML
    assert realm["realm"] == "perfscale"
    assert "perfscale-site" in [client["clientId"] for client in realm["clients"]]
    server = service_env(compose, "web")
    assert server["OIDC_ISSUER"].endswith("/realms/perfscale")
    assert server["OIDC_RP_CLIENT_ID"] == "perfscale-site"
    assert server["OIDC_RP_CLIENT_SECRET"] == service_env(compose, "keycloak")["PERFSCALE_CLIENT_SECRET"]


def test_every_server_variable_is_one_the_settings_read(compose):
    known = settings_names()
    known |= {f"{name}_FILE" for name in known} | {"DJANGO_SETTINGS_MODULE"}
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PERFMON_METRICS_TOKEN"} <= known
    for name in SERVER_SERVICES:
        unknown = set(service_env(compose, name)) - known
        assert not unknown, f"{name} sets variables perfmon/settings.py never reads: {sorted(unknown)}"
    interpreter = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPATH", "PIP_NO_CACHE_DIR",
                   "PIP_DISABLE_PIP_VERSION_CHECK"}
    unknown = dockerfile_env(COMPOSE / "Dockerfile") - known - interpreter
    assert not unknown, f"the Dockerfile sets unknown variables: {sorted(unknown)}"


def test_every_agent_variable_is_one_the_agent_reads(compose):
    unknown = set(service_env(compose, "agent")) - agent_names()
    assert not unknown, f"the agent service sets variables agents/ never reads: {sorted(unknown)}"


def test_the_env_file_documents_every_setting():
    lines = (COMPOSE / "env" / "perfmon.env.example").read_text().splitlines()
    documented = {}
    for index, line in enumerate(lines):
        match = re.match(r"^#? ?([A-Z][A-Z0-9_]*)=", line)
        if match:
            documented[match.group(1)] = index
    missing = settings_names() - set(documented)
    assert not missing, f"env/perfmon.env.example lacks {sorted(missing)}"
    for name, index in documented.items():
        above = lines[index - 1]
        assert above.startswith("#"), f"{name} has no comment above it"


def test_the_database_url_matches_the_postgres_service(compose):
    postgres = service_env(compose, "postgres")
    url = service_env(compose, "web")["DATABASE_URL"]
    expected = (f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
                f"{postgres['POSTGRES_DB']}")
    assert url == expected
    assert service_env(compose, "web")["REDIS_URL"].startswith("redis://redis:6379")


def test_operations_doc_lists_every_setting():
    text = (ROOT / "docs" / "operations.md").read_text()
    missing = sorted(name for name in settings_names() if f"`{name}`" not in text)
    assert not missing, f"docs/operations.md does not describe {missing}"
