"""Start the whole perfmon system in the foreground: `make up`.

Migrates, bootstraps the demo tenant/key/operator/local agent, then runs the
web server, the control-plane worker, beat, the local agent and the demo
target (scripts/demo_target.py, what the tour's tests load) as child processes
with prefixed output; the web access log goes to var/log/access.log. Ctrl-C (or SIGTERM) stops all of them:
SIGTERM first, SIGKILL after a grace period. If one child dies, the rest are
stopped too and the exit status is non-zero, so a broken stack never looks
healthy. Uses only the standard library; runs with the project's venv.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("PERFMON_VAR_DIR", ROOT / "var"))
BIN = Path(sys.executable).parent
LOG_DIR = VAR / "log"
GRACE_S = 15.0


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def prepare_environment() -> dict[str, str]:
    """The environment every process shares, with generated local secrets where none are given."""
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "perfmon.settings")
    env.setdefault("PERFMON_VAR_DIR", str(VAR))
    if "SECRET_KEY" not in env and "SECRET_KEY_FILE" not in env:
        key_file = VAR / "secret-key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(50))
            key_file.chmod(0o600)
        env["SECRET_KEY_FILE"] = str(key_file)
    if "PERFMON_LICENSE_PUBLIC_KEY" not in env:
        # A local vendor key pair, so the license flow can be tried end to end.
        private = VAR / "license-signing.pem"
        if not private.exists():
            manage(env, "issue_license", "--generate-keypair", "--private-key", str(private), quiet=True)
        env["PERFMON_LICENSE_PUBLIC_KEY"] = (VAR / "license-signing.pem.pub").read_text()
    LOG_DIR.mkdir(exist_ok=True)
    port = env.setdefault("PORT", "8000")
    env.setdefault("PERFMON_DEMO_TARGET_PORT", "8090")
    env.setdefault("PERFMON_PUBLIC_URL", f"http://127.0.0.1:{port}")
    return env


def manage(env: dict[str, str], *args: str, quiet: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"[stack] manage.py {' '.join(args)} failed (exit {result.returncode})")
    return result.stdout.strip()


def processes(env: dict[str, str]) -> dict[str, list[str]]:
    port = env["PORT"]
    procs = {
        "web": [
            str(BIN / "gunicorn"), "perfmon.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
            # Longer than any client's pause between polls (the CLI's is 2 s), so an
            # idle keep-alive connection is never closed just as the client reuses it.
            "--keep-alive", "75",
            # Every agent post is a request: a file, so the log does not drown the others.
            "--access-logfile", str(LOG_DIR / "access.log"), "--graceful-timeout", "10",
            # gunicorn's control socket defaults to one path in the home directory:
            # a second stack on the machine would take over the first one's.
            "--control-socket", str(VAR / "gunicorn.ctl"),
        ],
        "worker": [
            # Threads: the tick and the sweeper wait on the database, and a threads
            # pool stops in about a second where prefork's children take several.
            # One worker has no peers to gossip or sync with; without those steps
            # (and the broker heartbeat) Ctrl-C stops it in ~3 s instead of ~6 s.
            str(BIN / "celery"), "-A", "perfmon", "worker", "-Q", "perfmon", "--pool", "threads",
            "--concurrency", "4", "--loglevel", "INFO", "--hostname", "control@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        "beat": [
            str(BIN / "celery"), "-A", "perfmon", "beat", "--loglevel", "INFO",
            "--schedule", str(VAR / "celerybeat-schedule"),
        ],
    }
    procs["target"] = [sys.executable, str(ROOT / "scripts" / "demo_target.py"), "--port", env["PERFMON_DEMO_TARGET_PORT"]]
    agent = BIN / "perfmon-agent"
    if agent.exists():
        procs["agent"] = [str(agent), "--config", str(VAR / "agent-default.json"), "run"]
    else:
        log("perfmon-agent is not installed in this environment; starting without the local agent")
    return procs


def pump(selector: selectors.BaseSelector, width: int, timeout: float) -> None:
    """Copy whatever the children printed to our stdout, prefixed with their names."""
    for key_event, _ in selector.select(timeout=timeout):
        line = key_event.fileobj.readline()
        if line:
            sys.stdout.write(f"{key_event.data:<{width}} | {line.decode(errors='replace')}")
            sys.stdout.flush()
        else:
            selector.unregister(key_event.fileobj)


def agent_environment(env: dict[str, str]) -> dict[str, str]:
    """The local agent's environment: what it needs to enroll itself, none of the control plane's secrets."""
    import getpass

    keep = {name: env[name] for name in ("PATH", "LANG", "LC_ALL", "HOME", "TZ") if name in env}
    # The tools `make tools` installs (JMeter, Gatling, Artillery) and the venv's (k6, Locust).
    keep["PATH"] = os.pathsep.join([str(ROOT / "var" / "tools" / "bin"), str(BIN), keep.get("PATH", "/usr/bin:/bin")])
    return {
        **keep,
        "PERFMON_AGENT_SERVER": env["PERFMON_PUBLIC_URL"],
        "PERFMON_AGENT_ENROLLMENT_TOKEN_FILE": str(VAR / "agent-default-enrollment-token"),
        "PERFMON_AGENT_ID": "default",
        "PERFMON_AGENT_DATA_DIR": str(VAR / "agent-default"),
        "PERFMON_AGENT_CAPACITY": env.get("PERFMON_LOCAL_AGENT_CAPACITY", "2"),
        # The local demo agent runs tools as the user running `make up` (production
        # agents use a dedicated unprivileged user: docs/agent-install.md).
        "PERFMON_AGENT_RUN_AS": getpass.getuser(),
    }


def stop_all(children: dict[str, subprocess.Popen], selector: selectors.BaseSelector, width: int) -> None:
    """SIGTERM every child's process group, keep relaying their output, SIGKILL what outlives the grace."""
    for proc in children.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    started = time.monotonic()
    deadline = started + GRACE_S
    running = {name for name, proc in children.items() if proc.poll() is None}
    # Keep reading: a child blocked on a full pipe would never exit.
    while time.monotonic() < deadline and running:
        pump(selector, width, timeout=0.2)
        for name in sorted(running):
            if children[name].poll() is not None:
                running.discard(name)
                log(f"{name} stopped in {time.monotonic() - started:.1f}s")
    for name, proc in children.items():
        if proc.poll() is None:
            log(f"{name} did not stop in {GRACE_S:.0f}s; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    while selector.get_map():
        pump(selector, width, timeout=0.2)


def main() -> int:
    env = prepare_environment()
    log("migrating the database")
    manage(env, "migrate", "--noinput", "-v", "0")
    key = manage(env, "bootstrap_demo", "--agent-config", str(VAR / "agent-default.json")).splitlines()[-1]
    url = f"http://127.0.0.1:{env['PORT']}"

    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    selector = selectors.DefaultSelector()
    width = max(len(name) for name in processes(env))
    for name, argv in processes(env).items():
        if not Path(argv[0]).exists() and shutil.which(argv[0]) is None:
            sys.exit(f"[stack] {argv[0]} not found: is the virtualenv complete? (make up installs it)")
        proc = subprocess.Popen(
            argv, env=agent_environment(env) if name == "agent" else env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,  # our own signal handling decides when children stop
        )
        children[name] = proc
        selector.register(proc.stdout, selectors.EVENT_READ, name)

    log(f"perfmon is starting at {url}  (admin: {url}/admin/, user admin, password in {VAR}/demo-admin-password)")
    log(f"demo API key: {key}  (also in {VAR}/demo-api-key)")
    log(f"demo target (point tests here): http://127.0.0.1:{env['PERFMON_DEMO_TARGET_PORT']}/")
    log(f"web access log: {LOG_DIR / 'access.log'}")
    log("press Ctrl-C to stop")
    exit_code = 0
    while not stopping:
        pump(selector, width, timeout=0.5)
        for name, proc in children.items():
            if proc.poll() is not None and not stopping:
                log(f"{name} exited with status {proc.returncode}; stopping the others")
                exit_code = proc.returncode or 1
                stopping = True
    log("stopping")
    stop_all(children, selector, width)
    log("stopped")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
