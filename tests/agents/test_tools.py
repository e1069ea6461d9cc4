"""Finding tools and their versions, as the user tools run as; the run-as user itself."""

import os
import stat

import pytest

from agents.tools import RunAs, ToolCatalog
from runners.adapters import TOOLS
from runners.protocol import EXECUTE_RUN
from tests.runners.conftest import require_tool


def test_k6_is_found_with_its_version():
    k6 = require_tool("k6")
    info = ToolCatalog(tool_paths={"k6": k6}).probe("k6")
    assert info.available and info.path == k6
    assert info.version and info.version[0].isdigit()


def test_a_missing_tool_says_where_it_was_looked_for(tmp_path):
    catalog = ToolCatalog(tool_paths={"gatling": str(tmp_path / "nope")})
    info = catalog.probe("gatling")
    assert not info.available and "PERFMON_GATLING" in info.problem
    catalog.refresh(("gatling", "custom"))
    assert "gatling" not in catalog.versions() and "custom" in catalog.versions()


def test_a_binary_whose_version_command_fails_is_not_available(tmp_path):
    fake = tmp_path / "k6"
    fake.write_text("#!/bin/sh\necho 'k6: broken install' >&2\nexit 3\n")
    fake.chmod(stat.S_IRWXU)
    info = ToolCatalog(tool_paths={"k6": str(fake)}).probe("k6")
    assert not info.available and "exited 3" in info.problem and "broken install" in info.problem


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_tools_a_run_as_user_cannot_execute_are_not_available(tmp_path):
    private = tmp_path / "private"  # pytest's tmp dirs are 0700: nobody cannot enter
    private.mkdir()
    fake = private / "k6"
    fake.write_text("#!/bin/sh\necho 'k6 v9.9.9'\n")
    fake.chmod(stat.S_IRWXU)
    scratch = tmp_path / "scratch-root"
    scratch.mkdir()
    scratch.chmod(0o711)
    tmp_path.chmod(0o711)
    assert ToolCatalog(tool_paths={"k6": str(fake)}, scratch_root=scratch).probe("k6").version == "9.9.9"
    as_nobody = ToolCatalog(tool_paths={"k6": str(fake)}, run_as=RunAs.resolve("nobody"), scratch_root=scratch)
    info = as_nobody.probe("k6")
    assert not info.available and "as nobody" in info.problem


def test_run_as_errors_are_clear():
    with pytest.raises(LookupError, match="does not exist"):
        RunAs.resolve("no-such-user-here")
    assert RunAs.resolve("") == RunAs()


def test_the_agent_registers_exactly_the_task_the_control_plane_sends():
    # In a fresh interpreter, as in a real agent: in this test process the
    # control plane's shared tasks are imported too and would join any app.
    import subprocess
    import sys

    code = """
from agents.config import AgentConfig
from agents.worker import make_celery
app = make_celery(AgentConfig(server_url="http://x", agent_id="eu-1", credential="c", broker_url="memory://",
                              queue="agent.eu-1", work_root="/tmp", spool_dir="/tmp"), None)
app.finalize()
assert [q.name for q in app.conf.task_queues] == ["agent.eu-1"]
assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
print(",".join(sorted(name for name in app.tasks if not name.startswith("celery."))))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == EXECUTE_RUN
    from perfmon.runs import publishing

    assert publishing.EXECUTE_RUN == EXECUTE_RUN  # the control plane publishes this very name


def test_every_registered_tool_can_be_probed():
    catalog = ToolCatalog()
    assert set(catalog.refresh()) == set(TOOLS)


def test_the_agent_worker_never_loads_django(tmp_path):
    import subprocess
    import sys

    code = """
import sys
from agents.config import AgentConfig
from agents.worker import make_celery
app = make_celery(AgentConfig(server_url="http://x", agent_id="eu-1", credential="c", broker_url="memory://",
                              queue="agent.eu-1", work_root="/tmp", spool_dir="/tmp"), None)
app.loader.import_default_modules()
app.finalize()
# kombu imports the django package itself when it is installed (for its JSON encoder);
# what must never happen is Django being set up: settings, apps, the ORM.
print(sorted(m for m in sys.modules if m in ("django.db", "django.apps", "tests.settings") or m.startswith("perfmon")))
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
