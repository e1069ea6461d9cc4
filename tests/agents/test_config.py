"""The config file: private from its first byte, refused when others can read it."""

import json
import os
import stat

import pytest

from agents.config import AgentConfig, ConfigError, default_config_path, load, save


def sample(**changes) -> AgentConfig:
    fields = {"server_url": "https://perfmon.example.com/", "agent_id": "eu-west-1", "credential": "pma_abc_secret",
              "broker_url": "redis://127.0.0.1:6379/0", "queue": "agent.eu-west-1", "work_root": "/var/lib/w",
              "spool_dir": "/var/lib/s"}
    fields.update(changes)
    return AgentConfig(**fields)


def test_saved_config_is_mode_0600_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        save(sample(), tmp_path / "conf" / "agent.json")
    finally:
        os.umask(old)
    path = tmp_path / "conf" / "agent.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["agent.json"], "no temporary file left behind"
    loaded = load(path)
    assert loaded.credential == "pma_abc_secret" and loaded.server_url == "https://perfmon.example.com"


def test_rewriting_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "agent.json"
    save(sample(), path)
    save(sample(capacity=4), path)
    assert json.loads(path.read_text())["capacity"] == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_config_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "agent.json"
    save(sample(), path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load(path)


def test_a_missing_config_says_how_to_enroll(tmp_path):
    with pytest.raises(ConfigError, match="enroll"):
        load(tmp_path / "nope.json")


def test_incomplete_or_invalid_configs_name_the_problem(tmp_path):
    path = tmp_path / "agent.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({"server_url": "http://x", "capacity": 0, "max_request_names": 0}).encode())
    os.close(fd)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert "credential is missing" in str(info.value) and "capacity must be" in str(info.value)
    assert "max_request_names must be an integer from 1 to 10000" in str(info.value)


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PERFMON_AGENT_CONFIG", str(tmp_path / "a.json"))
    assert default_config_path() == tmp_path / "a.json"
    monkeypatch.delenv("PERFMON_AGENT_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "perfmon" / "agent.json"


def test_egress_deny_lists_default_to_the_cloud_metadata_services():
    config = sample()
    assert config.egress_deny_ips == ["169.254.0.0/16", "fd00:ec2::254/128"]
    assert config.egress_deny_hostnames == ["metadata.google.internal", "metadata.goog"]
    # A config written before these options existed gets them too.
    assert AgentConfig.from_dict({k: v for k, v in sample().to_dict().items()
                                  if not k.startswith("egress_")}).egress_deny_ips == config.egress_deny_ips


def test_egress_deny_lists_can_be_emptied_or_extended(tmp_path):
    path = tmp_path / "agent.json"
    save(sample(egress_deny_ips=[], egress_deny_hostnames=[]), path)
    assert load(path).egress_deny_ips == [] and load(path).egress_deny_hostnames == []
    config = sample(egress_deny_ips=["169.254.0.0/16", "10.0.0.0/8", "192.0.2.7", "2001:DB8::/32", "10.1.2.3/8"],
                    egress_deny_hostnames=["*.Internal", "*", "vault.example.com"])
    # Written the way k6 reads them: a single address is its /32 or /128, host bits are cleared.
    assert config.egress_deny_ips == ["169.254.0.0/16", "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8"]
    assert config.egress_deny_hostnames == ["*.internal", "*", "vault.example.com"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"egress_deny_ips": ["169.254.0.0/33"]},
     "egress_deny_ips: '169.254.0.0/33' is not an IPv4 or IPv6 CIDR (such as \"169.254.0.0/16\""),
    ({"egress_deny_ips": ["metadata.goog"]}, "egress_deny_ips: 'metadata.goog' is not an IPv4 or IPv6 CIDR"),
    ({"egress_deny_ips": [16]}, "egress_deny_ips: 16 is not an IPv4 or IPv6 CIDR"),
    ({"egress_deny_ips": "169.254.0.0/16"}, "egress_deny_ips must be a list of CIDRs"),
    ({"egress_deny_hostnames": ["a*.example.com"]},
     "egress_deny_hostnames: 'a*.example.com' is not a host name or a pattern with one leading wildcard"),
    ({"egress_deny_hostnames": ["bad host", "x..y", "*.*.x", "", "a_b.com"]}, "'x..y' is not a host name"),
    ({"egress_deny_hostnames": "metadata.goog"}, "egress_deny_hostnames must be a list of host names"),
])
def test_a_bad_egress_entry_is_refused_with_what_is_wrong(tmp_path, changes, message):
    path = tmp_path / "agent.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, json.dumps({**sample().to_dict(), **changes}).encode())
    os.close(fd)
    with pytest.raises(ConfigError, match="^invalid agent config: ") as info:
        load(path)
    assert message in str(info.value)
