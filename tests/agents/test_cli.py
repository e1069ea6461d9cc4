"""The perfmon-agent command line: usage errors exit 2 with a message, failures exit 1."""

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.cli import main
from agents.config import save
from tests.agents.test_config import sample

AGENT = Path(sys.executable).parent / "perfmon-agent"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["enroll", "--token", "pme_x"], "--server"),
        (["enroll", "--server", "http://x", "--token", "a", "--token-file", "b"], "not allowed with"),
        (["enroll", "--server", "http://x", "--token", "a", "--capacity", "0"], "must be at least 1"),
        (["enroll", "--server", "http://x", "--token", "a", "--capacity", "two"], "whole number"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_enroll_without_any_token_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PERFMON_AGENT_ENROLLMENT_TOKEN", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["--config", str(tmp_path / "a.json"), "enroll", "--server", "http://127.0.0.1:9"])
    assert info.value.code == 2
    assert "--token" in capsys.readouterr().err


def test_enroll_rejects_a_server_that_is_not_a_url(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "a.json"), "enroll", "--server", "perfmon.example.com",
                 "--token", "pme_x"]) == 1
    assert "http:// or https://" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_enroll_with_an_unreachable_server_fails_and_writes_nothing(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "a.json"), "enroll", "--server", "http://127.0.0.1:9",
                 "--token", "pme_x", "--run-as", getpass.getuser()]) == 1
    assert "cannot enroll at http://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists()


def test_enroll_refuses_to_overwrite_another_agents_config(tmp_path, capsys):
    save(sample(), tmp_path / "a.json")
    assert main(["--config", str(tmp_path / "a.json"), "enroll", "--server", "http://127.0.0.1:9",
                 "--token", "pme_x", "--id", "us-east-1"]) == 1
    assert "belongs to agent 'eu-west-1'" in capsys.readouterr().err
    assert json.loads((tmp_path / "a.json").read_text())["agent_id"] == "eu-west-1"


def test_run_and_doctor_without_a_config_exit_1_with_the_enroll_hint(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFMON_AGENT")}
    for command in ("run", "doctor"):
        done = subprocess.run([str(AGENT), "--config", str(tmp_path / "none.json"), command], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done
        assert "enroll this agent first" in done.stdout + done.stderr


def test_the_config_option_defaults_to_the_environment(tmp_path):
    env = {**os.environ, "PERFMON_AGENT_CONFIG": str(tmp_path / "from-env.json")}
    done = subprocess.run([str(AGENT), "doctor"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and str(tmp_path / "from-env.json") in done.stdout


def test_doctor_reports_an_unreachable_control_plane_and_broker(tmp_path):
    config = sample(server_url="http://127.0.0.1:9", broker_url="redis://127.0.0.1:9/0",
                    work_root=str(tmp_path / "work"), spool_dir=str(tmp_path / "spool"), run_as_user="",
                    enabled_tools=["k6"])
    save(config, tmp_path / "a.json")
    done = subprocess.run([str(AGENT), "--config", str(tmp_path / "a.json"), "doctor"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("[FAIL] control plane http://127.0.0.1:9 unreachable") for line in lines)
    assert any(line.startswith("[FAIL] broker redis://") and "127.0.0.1:9" in line for line in lines)
    assert any(line.startswith("[ ok ] tool k6 ") for line in lines), done.stdout
    assert "problem(s) found" in lines[-1]


def test_enroll_trades_the_token_and_writes_a_private_config(tmp_path, capsys):
    from tests.agents.plane import Plane

    plane = Plane().start()
    try:
        config_path = tmp_path / "etc" / "agent.json"
        token_file = tmp_path / "token"
        token_file.write_text("pme_good\n")
        code = main(["--config", str(config_path), "enroll", "--server", plane.url, "--token-file", str(token_file),
                     "--id", "eu-west-1", "--location", "eu", "--capacity", "3", "--data-dir", str(tmp_path / "data"),
                     "--tools", "k6", "--run-as", getpass.getuser()])
        assert code == 0, capsys.readouterr().err
        (path, body), = plane.posts("enroll")
        assert body["token"] == "pme_good" and body["agent_id"] == "eu-west-1" and body["capacity"] == 3
        assert set(body["tools"]) <= {"k6"} and body["os"] == "linux" and body["cpu_cores"] >= 1
        assert config_path.stat().st_mode & 0o777 == 0o600
        saved = json.loads(config_path.read_text())
        assert saved["credential"] == "pma_abc_s3cret" and saved["queue"] == "agent.eu-west-1"
        assert saved["work_root"] == str(tmp_path / "data" / "work")
        assert saved["spool_dir"] == str(tmp_path / "data" / "spool")
        assert saved["enabled_tools"] == ["k6"] and saved["heartbeat_interval_s"] == 2
        assert "pma_abc_s3cret" not in capsys.readouterr().out

        assert main(["--config", str(config_path), "enroll", "--server", plane.url, "--token", "pme_used"]) == 1
        assert "refused the enrollment token" in capsys.readouterr().err
        assert json.loads(config_path.read_text())["credential"] == "pma_abc_s3cret", "a failed enroll keeps the config"
    finally:
        plane.stop()
