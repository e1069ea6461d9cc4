#!/usr/bin/env python3
"""make compose-test: start the compose stack for real and drive it as an operator would.

  python3 scripts/compose_test.py [--keep]

On a machine that reaches no image registry (docs/operations.md, "The compose stack,
started"): installs Debian's docker.io and debootstrap when missing, builds Docker
Compose v2 from the Go module proxy once (cached in var/tools/compose), starts dockerd
in the background when none runs (log var/compose-test/dockerd.log; it is left running),
makes a Debian base image once (debootstrap; cached as an image and as a tarball in
var/tools/compose), then builds the project's images on it and runs
compose/compose.yaml with compose/compose.local.yaml (local PostgreSQL, Redis and
Keycloak; host networking, every address 127.0.0.1). Then, step by step: migrate, a
tenant and API keys, the agent container enrolled, a k6 monitor run against a local
target, the result through /api and through /api/v1 with a Keycloak token, /metrics,
a run across `docker compose restart redis` and one across `restart postgres` (none
lost), and `down -v`. Every wait is bounded; any failure prints the services' logs,
removes the stack and exits 1. --keep leaves the stack up (and the target stopped).

Environment: PERFMON_COMPOSE_POSTGRES_PORT (15432), PERFMON_COMPOSE_REDIS_PORT (16379),
PERFMON_COMPOSE_KEYCLOAK_PORT (18180), PERFMON_COMPOSE_KEYCLOAK_MANAGEMENT_PORT (19000),
PERFMON_COMPOSE_WEB_PORT (18000), PERFMON_COMPOSE_TARGET_PORT (18090, the load target),
PERFMON_BASE_IMAGE (perfmon-base:bookworm), KEYCLOAK_JAVA_HOME (a JDK 21+ for Keycloak's
image; default the newest under /usr/lib/jvm), PERFMON_COMPOSE_TEST_TIMEOUT (3600 s in
all), PERFMON_TOOLS_DIR (var/tools).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "compose"
WORK = ROOT / "var" / "compose-test"
TOOLS = Path(os.environ.get("PERFMON_TOOLS_DIR", ROOT / "var" / "tools"))
COMPOSE_VERSION = "v2.40.3"
COMPOSE_MODULE = "github.com/docker/compose/v2"
COMPOSE_CACHE = TOOLS / "compose" / f"docker-compose-{COMPOSE_VERSION}"
BASE_IMAGE = os.environ.get("PERFMON_BASE_IMAGE", "perfmon-base:bookworm")
BASE_TARBALL = TOOLS / "compose" / "perfmon-base-bookworm.tar"
KEYCLOAK_VERSION = "26.4.7"
PROJECT = "perfmon-compose-test"
PORTS = {
    "PERFMON_COMPOSE_POSTGRES_PORT": 15432,
    "PERFMON_COMPOSE_REDIS_PORT": 16379,
    "PERFMON_COMPOSE_KEYCLOAK_PORT": 18180,
    "PERFMON_COMPOSE_KEYCLOAK_MANAGEMENT_PORT": 19000,
    "PERFMON_COMPOSE_WEB_PORT": 18000,
    "PERFMON_COMPOSE_TARGET_PORT": 18090,
}
PORT = {name: int(os.environ.get(name, default)) for name, default in PORTS.items()}
WEB = f"http://127.0.0.1:{PORT['PERFMON_COMPOSE_WEB_PORT']}"
KEYCLOAK = f"http://127.0.0.1:{PORT['PERFMON_COMPOSE_KEYCLOAK_PORT']}"
TARGET = f"http://127.0.0.1:{PORT['PERFMON_COMPOSE_TARGET_PORT']}/"
DEADLINE = time.monotonic() + float(os.environ.get("PERFMON_COMPOSE_TEST_TIMEOUT", "3600"))
STARTED = time.monotonic()

# The load: 2 virtual users for a few seconds against the local target, one check.
K6_SCRIPT = """\
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 2, duration: (__ENV.DURATION || '10') + 's' };
export default function () {
  const res = http.get(__ENV.TARGET_HOST);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
"""


class Failure(Exception):
    pass


def step(text: str) -> None:
    print(f"[compose-test {time.monotonic() - STARTED:6.0f}s] {text}", flush=True)


def remaining(limit: float) -> float:
    left = DEADLINE - time.monotonic()
    if left <= 0:
        raise Failure("the overall time limit (PERFMON_COMPOSE_TEST_TIMEOUT) is used up")
    return min(limit, left)


def run(args: list[str], *, timeout: float = 600, cwd: Path | None = None, capture: bool = False,
        check: bool = True, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(args, cwd=cwd, timeout=remaining(timeout), text=True, input=stdin,
                                stdout=subprocess.PIPE if capture else None,
                                stderr=subprocess.PIPE if capture else None,
                                env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        raise Failure(f"{' '.join(args[:6])} … did not finish within {exc.timeout:.0f} s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if capture else ""
        raise Failure(f"{' '.join(args[:8])} exited {result.returncode}{': ' + detail if detail else ''}")
    return result


def wait_for(what: str, probe, timeout: float, interval: float = 2.0):
    """Call probe() until it returns something truthy; Failure after timeout seconds."""
    end = time.monotonic() + remaining(timeout)
    last = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # a probe may fail while the thing starts
            last = exc
        if time.monotonic() >= end:
            raise Failure(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


# --- installing docker, compose and the base image ------------------------------------------


def apt_install(*packages: str) -> None:
    step(f"apt-get install {' '.join(packages)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], timeout=300, env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], timeout=900, env=env)


def ensure_packages() -> None:
    missing = [package for package, binary in (("docker.io", "dockerd"), ("debootstrap", "debootstrap"))
               if not shutil.which(binary)]
    if missing:
        apt_install(*missing)
    if not shutil.which("docker"):
        raise Failure("no docker client after installing docker.io")


def ensure_daemon() -> None:
    if run(["docker", "info"], timeout=30, capture=True, check=False).returncode == 0:
        step("dockerd is running")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / "dockerd.log"
    step(f"starting dockerd in the background (log {log.relative_to(ROOT)})")
    with open(log, "ab") as out:
        subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    wait_for("dockerd answering", lambda: run(["docker", "info"], timeout=10, capture=True,
                                               check=False).returncode == 0, timeout=60, interval=1)


def compose_version() -> str:
    result = run(["docker", "compose", "version", "--short"], timeout=30, capture=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def recent_enough(version: str) -> bool:
    """Compose v2.24 or later (compose.local.yaml uses its !reset tag)."""
    try:
        major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    except ValueError:
        return False
    return major == 2 and minor >= 24


def ensure_compose() -> None:
    version = compose_version()
    if recent_enough(version):
        step(f"docker compose {version}")
        return
    if not COMPOSE_CACHE.exists():
        step(f"building Docker Compose {COMPOSE_VERSION} from the Go module proxy (once; a few minutes)")
        if not shutil.which("go"):
            raise Failure("go not found: it builds Docker Compose v2 (Debian packages only 1.29)")
        run(["go", "mod", "download", f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"], timeout=600, cwd=TOOLS.parent)
        modcache = run(["go", "env", "GOMODCACHE"], capture=True, timeout=30).stdout.strip()
        source = Path(modcache) / f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"
        COMPOSE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = COMPOSE_CACHE.with_suffix(".partial")
        # `go install …@version` refuses: the module has exclude directives; build inside it.
        run(["go", "build", "-trimpath", "-ldflags",
             f"-s -w -X github.com/docker/compose/v2/internal.Version={COMPOSE_VERSION}",
             "-o", str(partial), "./cmd"], cwd=source, timeout=1800)
        partial.rename(COMPOSE_CACHE)
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    plugin = plugins / "docker-compose"
    if plugin.is_symlink() or plugin.exists():
        plugin.unlink()
    plugin.symlink_to(COMPOSE_CACHE)
    step(f"installed {plugin} -> {COMPOSE_CACHE}")
    version = compose_version()
    if not recent_enough(version):
        raise Failure(f"docker compose answers {version!r} after installing the plugin")
    step(f"docker compose {version}")


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], timeout=30, capture=True, check=False).returncode == 0


def ensure_base_image() -> None:
    if image_exists(BASE_IMAGE):
        step(f"base image {BASE_IMAGE} present")
        if not BASE_TARBALL.exists():
            save_base_image()
        return
    if BASE_TARBALL.exists():
        step(f"loading the base image from {BASE_TARBALL}")
        run(["docker", "load", "-i", str(BASE_TARBALL)], timeout=300, capture=True)
        if image_exists(BASE_IMAGE):
            return
    rootfs = WORK / "rootfs"
    step(f"making the base image {BASE_IMAGE}: debootstrap --variant=minbase bookworm (once; a few minutes)")
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    # Python 3.11 and pip as the python image has them; tini and CA certificates for the agent.
    run(["debootstrap", "--variant=minbase", "--include=python3,python3-pip,ca-certificates,tini",
         "bookworm", str(rootfs), "http://deb.debian.org/debian"], timeout=1200, capture=True)
    # pip installs into /usr/local like the python image (no PEP 668 marker), `python` is python3.
    (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    python = rootfs / "usr/local/bin/python"
    python.unlink(missing_ok=True)
    python.symlink_to("/usr/bin/python3")
    # The host's CA bundle too: where the host reaches PyPI through a TLS-intercepting proxy,
    # the builds' pip and apt must trust the same authorities.
    host_bundle = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.is_file():
        shutil.copyfile(host_bundle, rootfs / "usr/local/share/ca-certificates/host-ca-bundle.crt")
        run(["chroot", str(rootfs), "update-ca-certificates"], timeout=120, capture=True)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    step(f"importing {rootfs.relative_to(ROOT)} as {BASE_IMAGE}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(["docker", "import",
                        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "--change", 'CMD ["bash"]', "-", BASE_IMAGE],
                       stdin=tar.stdout, check=True, timeout=remaining(600), stdout=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise Failure(f"docker import failed: {exc}") from None
    finally:
        tar.stdout.close()
        tar.wait(timeout=60)
    shutil.rmtree(rootfs)
    save_base_image()


def save_base_image() -> None:
    BASE_TARBALL.parent.mkdir(parents=True, exist_ok=True)
    partial = BASE_TARBALL.with_suffix(".partial")
    run(["docker", "save", "-o", str(partial), BASE_IMAGE], timeout=300)
    partial.rename(BASE_TARBALL)
    step(f"saved {BASE_IMAGE} to {BASE_TARBALL} (loaded from there when the engine has lost it)")


def java_home() -> Path:
    if os.environ.get("KEYCLOAK_JAVA_HOME"):
        return Path(os.environ["KEYCLOAK_JAVA_HOME"])
    best, best_major = None, 0
    for home in sorted(Path("/usr/lib/jvm").glob("*")):
        release = home / "release"
        if not (home / "bin" / "java").exists() or home.is_symlink() or not release.exists():
            continue
        for line in release.read_text(errors="replace").splitlines():
            if line.startswith("JAVA_VERSION="):
                major = int(line.split("=", 1)[1].strip('"').split(".")[0])
                if major > best_major:
                    best, best_major = home, major
    if best is None or best_major < 21:
        raise Failure("Keycloak 26 needs a JDK 21+ and none is under /usr/lib/jvm (set KEYCLOAK_JAVA_HOME)")
    return best


def link_tree(source: Path, target: Path) -> None:
    """Hard links where possible (same filesystem), a copy otherwise."""
    if target.exists():
        shutil.rmtree(target)
    if run(["cp", "-al", str(source), str(target)], timeout=300, capture=True, check=False).returncode != 0:
        if target.exists():
            shutil.rmtree(target)
        run(["cp", "-a", str(source), str(target)], timeout=600)


def prepare_keycloak_context() -> Path:
    """The build context of compose/local/keycloak: its Dockerfile, the distribution and a JDK."""
    run(["bash", str(ROOT / "scripts" / "keycloak.sh"), "--install"], timeout=900, capture=True)
    dist = TOOLS / f"keycloak-{KEYCLOAK_VERSION}"
    jdk = java_home()
    context = WORK / "keycloak-context"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(COMPOSE_DIR / "local" / "keycloak" / "Dockerfile", context / "Dockerfile")
    link_tree(dist, context / "keycloak")
    # Instance state scripts/keycloak.sh may have left in the shared distribution is not wanted.
    for name in ("data", ".start.lock", ".perfmon-installed"):
        path = context / "keycloak" / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    link_tree(jdk, context / "jdk")
    # A packaged JDK links some files outside itself (Temurin's lib/security/cacerts is
    # /etc/ssl/certs/java/cacerts): the image needs the files themselves.
    for path in (context / "jdk").rglob("*"):
        if path.is_symlink() and os.path.isabs(os.readlink(path)):
            resolved = path.resolve()
            path.unlink()
            if resolved.is_file():
                shutil.copyfile(resolved, path)
    step(f"Keycloak build context {context.relative_to(ROOT)}: Keycloak {KEYCLOAK_VERSION}, JDK {jdk}")
    return context


# --- the stack ----------------------------------------------------------------------------------


def compose_env() -> dict:
    env = {name: str(value) for name, value in PORT.items()}
    env["PERFMON_BASE_IMAGE"] = BASE_IMAGE
    env["PERFMON_COMPOSE_KEYCLOAK_CONTEXT"] = str(WORK / "keycloak-context")
    return env


def compose(*args: str, timeout: float = 600, capture: bool = False, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    return run(["docker", "compose", "-f", "compose.yaml", "-f", "compose.local.yaml", "-p", PROJECT, *args],
               cwd=COMPOSE_DIR, timeout=timeout, capture=capture, check=check, env=compose_env(), stdin=stdin)


def manage(*args: str) -> str:
    """manage.py in the running web container; its last line of output."""
    out = compose("exec", "-T", "web", "python", "manage.py", *args, capture=True, timeout=120).stdout
    return out.strip().splitlines()[-1]


def check_ports_free() -> None:
    taken = []
    for name, port in PORT.items():
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                taken.append(f"{port} ({name})")
    if taken:
        raise Failure(f"ports in use on 127.0.0.1: {', '.join(taken)}; set those variables to free ports")


def service_states() -> dict[str, dict]:
    out = compose("ps", "-a", "--format", "json", capture=True, timeout=60).stdout.strip()
    rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines() if line]
    return {row["Service"]: row for row in rows}


def wait_healthy(services: tuple[str, ...], timeout: float) -> None:
    def probe():
        states = service_states()
        for name in services:
            row = states.get(name)
            if row is None:
                return False
            if row.get("State") in ("exited", "dead"):
                raise Failure(f"{name} exited: {row.get('Status')}")
            if row.get("Health", "") not in ("healthy", "") or row.get("State") != "running":
                return False
            if row.get("Health", "") == "" and name != "agent":
                return False
        return True
    try:
        wait_for(f"healthy: {', '.join(services)}", probe, timeout, interval=2)
    except Failure:
        states = service_states()
        for name in services:
            row = states.get(name, {})
            step(f"  {name}: {row.get('State')} {row.get('Health', '')} {row.get('Status', '')}")
        raise


def http(method: str, url: str, *, headers: dict | None = None, body=None, form: dict | None = None,
         timeout: float = 15) -> tuple[int, bytes, dict]:
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if not url.startswith("http://127.0.0.1:"):
        raise Failure(f"only the local stack is asked: {url}")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


UNAVAILABLE = []  # the GETs answered 503 (and retried), as a client does after an outage


def api(method: str, path: str, key: str, body=None, expect: int = 200):
    for _ in range(10):
        status, data, headers = http(method, WEB + path, headers={"X-API-Key": key}, body=body)
        if status != 503 or method != "GET":
            break
        # A web process's kept database connection dies with a PostgreSQL restart: that
        # request is a 503 with Retry-After, and the next one reconnects.
        UNAVAILABLE.append(path)
        time.sleep(min(float(headers.get("Retry-After", "1")), 5.0))
    if status != expect:
        raise Failure(f"{method} {path}: {status} (expected {expect}): {data[:500]!r}")
    return json.loads(data) if data else None


def keycloak_token() -> str:
    status, data, _ = http("POST", f"{KEYCLOAK}/realms/perfscale/protocol/openid-connect/token", form={
        "grant_type": "password", "client_id": "perfscale-site", "client_secret": "perfscale-dev-secret",
        "username": "demo@perfscale.ru", "password": "demo1234"})
    if status != 200:
        raise Failure(f"Keycloak password grant: {status} {data[:300]!r}")
    return json.loads(data)["access_token"]


def v1(path: str, token: str):
    status, data, _ = http("GET", WEB + path, headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        raise Failure(f"GET {path} with a Keycloak token: {status} {data[:300]!r}")
    return json.loads(data)


def start_run(monitor: dict, key: str) -> str:
    return api("POST", f"/api/monitors/{monitor['id']}/run", key, expect=202)["runId"]


def wait_run(run_id: str, key: str, timeout: float = 180) -> dict:
    def probe():
        run_ = api("GET", f"/api/runs/{run_id}", key)
        return run_ if run_["status"] not in ("queued", "running") else None
    result = wait_for(f"run {run_id} ending", probe, timeout)
    if result["status"] != "pass" or not result["metrics"]["totalRequests"]:
        raise Failure(f"run {run_id} ended {result['status']}: {result.get('reason')} {result['metrics']}")
    return result


def wait_running(run_id: str, key: str, timeout: float = 120) -> None:
    wait_for(f"run {run_id} running", lambda: api("GET", f"/api/runs/{run_id}", key)["status"] == "running",
             timeout, interval=0.5)


def restart_mid_run(service: str, monitor: dict, key: str) -> dict:
    run_id = start_run(monitor, key)
    wait_running(run_id, key)
    time.sleep(2)
    step(f"docker compose restart {service} while run {run_id} runs")
    compose("restart", service, timeout=180)
    wait_healthy((service,), timeout=120)
    result = wait_run(run_id, key, timeout=300)
    step(f"run {run_id} across the restart of {service}: {result['status']}, "
         f"{result['metrics']['totalRequests']} requests")
    return result


def drive() -> None:
    step("migrate: the one-shot migrate service (compose up) ran; again as an upgrade would")
    states = service_states()
    migrate = states.get("migrate", {})
    if migrate.get("State") != "exited" or migrate.get("ExitCode") != 0:
        raise Failure(f"migrate did not complete: {migrate.get('Status')}")
    out = compose("run", "--rm", "--no-deps", "-T", "migrate", "python", "manage.py", "migrate", "--noinput",
                  capture=True, timeout=180).stdout
    if "No migrations to apply" not in out:
        raise Failure(f"a second migrate applied something: {out[-500:]}")

    step("create a tenant and API keys (manage.py in the web container)")
    other = manage("create_tenant", "Compose Test", "--slug", "compose-test")
    other_key = manage("create_api_key", other, "--name", "compose-test")
    key = manage("create_api_key", "demo", "--name", "compose-test")
    if not (key.startswith("pmk_") and other_key.startswith("pmk_")):
        raise Failure(f"create_api_key printed {key[:12]!r} / {other_key[:12]!r}, not pmk_ keys")

    step("the agent container enrolled with the token migrate wrote, and is online")
    compose("exec", "-T", "agent", "test", "-s", "/var/lib/perfmon-agent/agent.json", timeout=60)

    def agent_online():
        agents = api("GET", "/api/agents", key)
        agents = agents.get("results", agents) if isinstance(agents, dict) else agents
        return any(a["id"] == "default" and a["status"] == "online" and "k6" in (a.get("tools") or {})
                   for a in agents)
    wait_for("agent default online with k6", agent_online, timeout=120)

    step(f"create a k6 monitor against the local target {TARGET}")
    monitor = api("POST", "/api/monitors", key, expect=201, body={
        "name": "Compose test", "tool": "k6", "schedule": "0 0 1 1 *",
        "scriptContent": base64.b64encode(K6_SCRIPT.encode()).decode(), "scriptFilename": "compose-test.js",
        "parameters": {"TARGET_HOST": TARGET, "DURATION": "10"},
        "thresholds": {"errorRatePercent": 1, "latencyMs": 2000}})
    status, _, _ = http("GET", f"{WEB}/api/monitors/{monitor['id']}", headers={"X-API-Key": other_key})
    if status != 404:
        raise Failure(f"the other tenant's key sees the monitor: {status}")

    step("run it and wait for the result")
    first = wait_run(start_run(monitor, key), key)
    step(f"run {first['id']}: {first['status']}, {first['metrics']['totalRequests']} requests, "
         f"p95 {first['metrics']['p95']} ms")

    step("read it through /api/v1 with a Keycloak token (password grant, client perfscale-site)")
    token = keycloak_token()
    me = v1("/api/v1/auth/me", token)
    if me.get("email") != "demo@perfscale.ru":
        raise Failure(f"/api/v1/auth/me: {me}")
    task = v1(f"/api/v1/tasks/{first['id']}", token)
    if task["status"] != "passed" or task["total_requests"] != first["metrics"]["totalRequests"]:
        raise Failure(f"/api/v1/tasks/{first['id']}: {task} does not match /api's {first['metrics']}")

    step("GET /metrics")
    status, data, _ = http("GET", f"{WEB}/metrics")
    text = data.decode()
    if status != 200 or "perfmon_runs" not in text or "perfmon_agents_online" not in text:
        raise Failure(f"/metrics: {status} {text[:300]!r}")

    results = [first]
    for service in ("redis", "postgres"):
        results.append(restart_mid_run(service, monitor, key))

    step("after the restarts: every run is in the history, through /api and /api/v1")
    wait_healthy(("postgres", "redis", "keycloak", "web", "worker", "beat", "agent"), timeout=120)
    listed = api("GET", f"/api/monitors/{monitor['id']}/runs?limit=20", key)
    listed = listed.get("runs", listed.get("results", listed)) if isinstance(listed, dict) else listed
    ids = {r["id"]: r["status"] for r in listed}
    expected = {r["id"] for r in results}
    if not expected <= set(ids) or any(ids[i] != "pass" for i in expected) or len(ids) != len(expected):
        raise Failure(f"runs of the monitor: {ids}, expected these passed: {sorted(expected)}")
    tasks = {t["id"]: t["status"] for t in v1("/api/v1/tasks", keycloak_token())}
    if any(tasks.get(i) != "passed" for i in expected):
        raise Failure(f"/api/v1/tasks: {tasks}")
    step(f"{len(expected)} runs, all passed, none lost"
         + (f"; {len(UNAVAILABLE)} GET(s) answered 503 + Retry-After around the restarts and were retried"
            if UNAVAILABLE else ""))


def dump_logs() -> None:
    try:
        compose("ps", "-a", timeout=60, check=False)
        compose("logs", "--no-color", "--tail", "60", timeout=120, check=False)
    except Failure as exc:
        step(f"(could not read the logs: {exc})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack up at the end")
    args = parser.parse_args()
    target = None
    started = False
    failed = False
    try:
        check_ports_free()
        ensure_packages()
        ensure_daemon()
        ensure_compose()
        ensure_base_image()
        prepare_keycloak_context()
        build_log = WORK / "build.log"
        step(f"docker compose build: the project's images on {BASE_IMAGE} (log {build_log.relative_to(ROOT)})")
        with open(build_log, "w") as log:
            try:
                subprocess.run(["docker", "compose", "-f", "compose.yaml", "-f", "compose.local.yaml",
                                "-p", PROJECT, "--progress", "plain", "build"], cwd=COMPOSE_DIR,
                               env={**os.environ, **compose_env()}, stdout=log, stderr=subprocess.STDOUT,
                               check=True, timeout=remaining(2400))
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                print(build_log.read_text()[-4000:], flush=True)
                raise Failure(f"docker compose build: {exc}") from None
        target = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo_target.py"),
                                   "--port", str(PORT["PERFMON_COMPOSE_TARGET_PORT"])],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("the load target", lambda: http("GET", TARGET, timeout=2)[0] == 200,
                 timeout=30, interval=0.5)
        step("docker compose up -d (waits for PostgreSQL, Redis, Keycloak, migrate and web)")
        started = True
        compose("up", "-d", "--no-build", timeout=900)
        wait_healthy(("postgres", "redis", "keycloak", "web", "worker", "beat", "agent"), timeout=300)
        drive()
    except (Failure, subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
        failed = True
        step(f"FAILED: {type(exc).__name__}: {exc}")
        if started:
            dump_logs()
    finally:
        if target is not None:
            target.terminate()
            target.wait(timeout=10)
        if started and not (args.keep and not failed):
            step("docker compose down -v")
            global DEADLINE
            DEADLINE = max(DEADLINE, time.monotonic() + 300)  # cleaning up gets its own time
            try:
                compose("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300)
            except Failure as exc:
                step(f"down -v failed: {exc}")
                failed = True
    step("FAILED" if failed else f"passed in {time.monotonic() - STARTED:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
