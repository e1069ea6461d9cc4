"""The README and docs/getting-started.md, walked as a new user walks them.

A copy of the checkout (its files as they are now, sharing the project's
virtualenv) runs `make up`'s stack on the embedded defaults, and every ```sh
block of the two documents then runs as printed in a new shell with a clean
environment, one shell per document, stopping at the first command that
fails. Two things differ from a user's machine, both to keep the test off
ports a developer may be using: the web port 8000 and the demo target's 8090
are replaced by free ports. Not walked: the set-up commands themselves
(`make up`, `make test`, `make tools`, `make -s services`, which .ci/run runs
literally) and the compose stack's section.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.test_stack import START_TIMEOUT_S, free_port, wait_for, wait_for_agent

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
SETUP = re.compile(r"^\s*(make |eval \"\$\(make |PERFMON_REQUIRE_ALL=1 make )")
# The daily times the documents' monitors are scheduled at (UTC): a scheduled
# run beside the manual one would make the documented trigger answer 409.
SCHEDULED_AT = ((3, 0), (6, 0))
WALK_TIMEOUT_S = 420


def sh_blocks(markdown: str) -> list[str]:
    """The ```sh blocks outside the compose section, with the set-up commands left out."""
    blocks = []
    for section in re.split(r"^## ", markdown, flags=re.M):
        if "compose" in section.partition("\n")[0].lower():
            continue
        for block in FENCE.findall(section):
            lines = [line for line in block.splitlines() if not SETUP.match(line)]
            if any(line.strip() and not line.lstrip().startswith("#") for line in lines):
                blocks.append("\n".join(lines))
    return blocks


def copy_checkout(dest: Path) -> None:
    """The checkout's tracked and new files (not var/ or build output), and its virtualenv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def clear_of_schedules() -> None:
    """Wait while a documented schedule is due within three minutes (at most six minutes, rarely)."""
    while True:
        now = datetime.now(UTC)
        minutes = now.hour * 60 + now.minute
        if all(abs(minutes - (hour * 60 + minute)) > 3 for hour, minute in SCHEDULED_AT):
            return
        time.sleep(20)


def walk(markdown: Path, checkout: Path, port: int, target_port: int, home: Path) -> subprocess.CompletedProcess:
    script = "\n".join(sh_blocks(markdown.read_text()))
    assert script, f"{markdown.name} has no commands to walk"
    for host in ("127.0.0.1", "localhost"):
        script = script.replace(f"{host}:8000", f"{host}:{port}").replace(f"{host}:8090", f"{host}:{target_port}")
    clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=clean, capture_output=True, text=True,
        timeout=WALK_TIMEOUT_S, check=False,
    )


@pytest.mark.integration
def test_readme_and_getting_started_run_as_printed(tmp_path):
    checkout, home = tmp_path / "checkout", tmp_path / "home"
    checkout.mkdir()
    home.mkdir()
    copy_checkout(checkout)
    port, target_port = free_port(), free_port()
    stack_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
        "PORT": str(port), "PERFMON_DEMO_TARGET_PORT": str(target_port),
    }
    log = (tmp_path / "stack.log").open("w")
    stack = subprocess.Popen(
        [str(checkout / ".venv" / "bin" / "python"), "scripts/stack.py"], cwd=checkout, env=stack_env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", time.monotonic() + START_TIMEOUT_S, stack)
        key = (checkout / "var" / "demo-api-key").read_text().strip()
        wait_for_agent(f"{base}/api/agents", {"X-API-Key": key}, stack)
        clear_of_schedules()

        readme = walk(checkout / "README.md", checkout, port, target_port, home)
        assert readme.returncode == 0, readme.stdout[-3000:] + readme.stderr[-3000:]
        assert "Traceback" not in readme.stderr, readme.stderr[-3000:]
        assert '"status":"pass"' in readme.stdout, readme.stdout[-3000:]  # the tour's run
        assert '"tier":"professional"' in readme.stdout, readme.stdout[-2000:]  # the license got installed
        assert "acme-corp" in readme.stdout

        guide = walk(checkout / "docs" / "getting-started.md", checkout, port, target_port, home)
        assert guide.returncode == 0, guide.stdout[-3000:] + guide.stderr[-3000:]
        assert "Traceback" not in guide.stderr, guide.stderr[-3000:]
        # the CLI's waits never lost their connection to the web process
        assert "retrying" not in guide.stderr, guide.stderr[-3000:]
        assert 'failures="0"' in (checkout / "report.xml").read_text()
        agents = requests.get(f"{base}/api/agents", headers={"X-API-Key": key}, timeout=10).json()
        assert "lab-1" in {agent["id"] for agent in agents}
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()
        log.close()
    assert stack.returncode == 0, (tmp_path / "stack.log").read_text()[-3000:]


def test_walk_sees_every_command_block_but_the_setup_ones():
    markdown = (
        "## One\n```sh\nmake up\nKEY=$(cat var/demo-api-key)\n```\n"
        "## 1b. The compose stack\n```sh\ndocker compose up\n```\n"
        "## Two\n```sh\neval \"$(make -s services)\"\nmake tools\n```\n```python\nprint()\n```\n```sh\ncurl -s x\n```\n"
    )
    assert sh_blocks(markdown) == ["KEY=$(cat var/demo-api-key)", "curl -s x"]

