"""Enrollment: trade a one-time token for the agent credential and write the config file."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from agents import __version__
from agents.client import ControlPlane, TransportError
from agents.config import AgentConfig, ConfigError, default_data_dir, save
from agents.heartbeat import host_facts
from agents.tools import RunAs, ToolCatalog

log = logging.getLogger(__name__)


class EnrollError(Exception):
    """Enrollment failed; the message says why and what to do."""


def _previous(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EnrollError(f"{path} exists but cannot be read ({exc}); move it away or pass --force") from None


def enroll(*, config_path: Path, server: str, token: str, agent_id: str = "", name: str = "",
           location: str = "", capacity: int | None = None, data_dir: str = "", work_root: str = "",
           spool_dir: str = "", run_as_user: str | None = None, ca_bundle: str = "", force: bool = False,
           tools: list[str] | None = None, wait_s: float = 0.0) -> AgentConfig:
    """POST /enroll and save the config (mode 0600) at ``config_path``.

    Keeps the local settings of an existing config of the same agent (tool
    paths, caps); refuses to overwrite another agent's config unless
    ``force``. ``wait_s``: keep retrying an unreachable control plane that
    long (a container starting beside it). ``tools``: the tools this agent
    offers (None: keep the previous choice; empty: all it finds). Raises EnrollError.
    """
    if not server.startswith(("http://", "https://")):
        raise EnrollError(f"--server must be an http:// or https:// URL, got {server!r}")
    previous = _previous(config_path)
    if previous and not force and agent_id and previous.get("agent_id") not in (None, agent_id):
        raise EnrollError(f"{config_path} belongs to agent {previous.get('agent_id')!r}; use another "
                          f"--config for a second agent on this host, or --force to replace it")
    run_as_name = run_as_user if run_as_user is not None else previous.get("run_as_user", "")
    try:
        run_as = RunAs.resolve(run_as_name or ("nobody" if _is_root() else ""))
    except (LookupError, PermissionError) as exc:
        raise EnrollError(str(exc)) from None
    enabled = list(tools) if tools is not None else previous.get("enabled_tools") or []
    catalog = ToolCatalog(tool_paths=previous.get("tool_paths"), tool_dirs=previous.get("tool_dirs"), run_as=run_as,
                          enabled=enabled)
    catalog.refresh()
    body = {
        "token": token,
        "version": __version__,
        "tools": catalog.versions(),
        **{k: v for k, v in host_facts(server).items() if v is not None},
    }
    if agent_id:
        body["agent_id"] = agent_id
    if name:
        body["name"] = name
    if location:
        body["location"] = location
    capacity = capacity or int(previous.get("capacity") or 1)
    body["capacity"] = capacity
    client = ControlPlane(server, timeout=30.0, ca_bundle=ca_bundle, user_agent=f"perfmon-agent/{__version__}")
    answer = _post_enroll(client, body, server, wait_s)
    enrolled_id = str(answer.get("agent_id") or "")
    if previous and not force and previous.get("agent_id") not in (None, enrolled_id):
        raise EnrollError(f"{config_path} belongs to agent {previous.get('agent_id')!r} but the token "
                          f"enrolled {enrolled_id!r}; use another --config, or --force")
    data = default_data_dir(enrolled_id) if not data_dir else Path(data_dir)
    fields = {
        **previous,
        "server_url": server,
        "agent_id": enrolled_id,
        "credential": answer.get("credential", ""),
        "broker_url": answer.get("broker_url", ""),
        "broker_transport_options": answer.get("broker_transport_options") or {},
        "queue": answer.get("queue") or f"agent.{enrolled_id}",
        "heartbeat_interval_s": float(answer.get("heartbeat_interval_s") or 5.0),
        "capacity": capacity,
        "name": name or previous.get("name", ""),
        "location": location or previous.get("location", ""),
        "run_as_user": run_as_name,
        "enabled_tools": enabled,
        "ca_bundle": ca_bundle or previous.get("ca_bundle", ""),
        "work_root": str(Path(work_root or previous.get("work_root") or data / "work").absolute()),
        "spool_dir": str(Path(spool_dir or previous.get("spool_dir") or data / "spool").absolute()),
    }
    try:
        config = AgentConfig.from_dict(fields)
    except ConfigError as exc:
        raise EnrollError(f"the control plane's enrollment answer is incomplete: {exc}") from None
    save(config, config_path)
    return config


def _is_root() -> bool:
    return os.geteuid() == 0


def _post_enroll(client: ControlPlane, body: dict, server: str, wait_s: float) -> dict:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.post("/enroll", body, auth=False)
        except TransportError as exc:
            if exc.status == 401:
                raise EnrollError("the control plane refused the enrollment token (invalid, already used or "
                                  "expired): ask the operator for a new one") from None
            if exc.status == 409:
                raise EnrollError(f"the token belongs to another agent id: {exc}") from None
            if exc.permanent:
                raise EnrollError(f"enrollment failed: {exc}") from None
            if time.monotonic() >= deadline:
                raise EnrollError(f"cannot enroll at {server}: {exc}") from None
            log.info("control plane not reachable yet (%s); retrying", exc)
            time.sleep(2.0)
