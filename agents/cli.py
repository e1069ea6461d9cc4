"""The ``perfmon-agent`` command: enroll, run, doctor.

``--config PATH`` (default ``$PERFMON_AGENT_CONFIG``, else
``~/.config/perfmon/agent.json``) picks the agent, so several agents can
live on one host, each with its own config, spool and work dirs.

Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage.

``run`` without a config enrolls first when PERFMON_AGENT_SERVER and
PERFMON_AGENT_ENROLLMENT_TOKEN (or ..._TOKEN_FILE) are set, with
PERFMON_AGENT_ID, _LOCATION, _NAME, _CAPACITY, _RUN_AS, _TOOLS, _DATA_DIR as the enroll
options: what a container image needs to start from its environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from agents import __version__
from agents.config import ConfigError, default_config_path, load

log = logging.getLogger("agents")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _tool_list(text: str) -> list[str]:
    from runners.adapters import TOOLS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TOOLS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown tool(s) {', '.join(unknown)} (known: {', '.join(TOOLS)})")
    return names


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="perfmon-agent", description="perfmon's regional load-test agent")
    top.add_argument("--config", type=Path, default=None, metavar="PATH",
                     help="the agent's config file (default: $PERFMON_AGENT_CONFIG or ~/.config/perfmon/agent.json)")
    top.add_argument("--log-level", default=os.environ.get("PERFMON_AGENT_LOG_LEVEL", "INFO"),
                     choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    top.add_argument("--version", action="version", version=f"perfmon-agent {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = sub.add_parser("enroll", help="trade a one-time enrollment token for this agent's credential")
    enroll.add_argument("--server", required=True, metavar="URL", help="the control plane, e.g. https://perfmon.example.com")
    token = enroll.add_mutually_exclusive_group()
    token.add_argument("--token", metavar="TOKEN", help="the one-time enrollment token (pme_...)")
    token.add_argument("--token-file", type=Path, metavar="FILE", help="read the token from FILE (keeps it out of ps)")
    enroll.add_argument("--id", dest="agent_id", default="", metavar="ID", help="the agent id the token was made for")
    enroll.add_argument("--location", default="", metavar="L")
    enroll.add_argument("--name", default="", metavar="N")
    enroll.add_argument("--capacity", type=_positive_int, default=None, metavar="N", help="runs at once (default 1)")
    enroll.add_argument("--data-dir", default="", metavar="DIR", help="where the spool and work dirs go")
    enroll.add_argument("--work-root", default="", metavar="DIR")
    enroll.add_argument("--spool-dir", default="", metavar="DIR")
    enroll.add_argument("--run-as", default=None, metavar="USER",
                        help="run the tools as this user (the agent must run as root; root agents default to nobody)")
    enroll.add_argument("--tools", type=_tool_list, default=None, metavar="T1,T2",
                        help="offer only these tools (default: every tool found), e.g. k6,locust")
    enroll.add_argument("--ca-bundle", default="", metavar="FILE", help="CA certificates for the control plane's TLS")
    enroll.add_argument("--force", action="store_true", help="replace a config that belongs to another agent")

    sub.add_parser("run", help="run the worker and heartbeat until SIGTERM")
    sub.add_parser("doctor", help="check tools, control plane and broker; exit 1 if something is wrong")
    return top


def _token(args) -> str:
    if args.token:
        return args.token.strip()
    if args.token_file:
        return args.token_file.read_text().strip()
    env = os.environ.get("PERFMON_AGENT_ENROLLMENT_TOKEN", "").strip()
    if env:
        return env
    raise SystemExit(_usage_error("enroll needs --token, --token-file or PERFMON_AGENT_ENROLLMENT_TOKEN"))


def _usage_error(message: str) -> int:
    print(f"perfmon-agent: error: {message}", file=sys.stderr)
    return 2


def cmd_enroll(args, config_path: Path) -> int:
    from agents.enroll import EnrollError, enroll

    try:
        token = _token(args)
    except OSError as exc:
        return _usage_error(f"cannot read {args.token_file}: {exc.strerror}")
    try:
        config = enroll(
            config_path=config_path, server=args.server, token=token, agent_id=args.agent_id, name=args.name,
            location=args.location, capacity=args.capacity, data_dir=args.data_dir, work_root=args.work_root,
            spool_dir=args.spool_dir, run_as_user=args.run_as, ca_bundle=args.ca_bundle, force=args.force,
            tools=args.tools,
        )
    except EnrollError as exc:
        print(f"perfmon-agent: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled as agent {config.agent_id} (queue {config.queue}); config written to {config_path} (mode 0600)")
    print(f"start it with: perfmon-agent --config {config_path} run")
    return 0


def _auto_enroll(config_path: Path) -> int | None:
    server = os.environ.get("PERFMON_AGENT_SERVER", "")
    token = os.environ.get("PERFMON_AGENT_ENROLLMENT_TOKEN", "")
    token_file = os.environ.get("PERFMON_AGENT_ENROLLMENT_TOKEN_FILE", "")
    if token_file and not token:
        try:
            token = Path(token_file).read_text().strip()
        except OSError:
            token = ""
    if not (server and token):
        return None
    from agents.enroll import EnrollError, enroll

    capacity = os.environ.get("PERFMON_AGENT_CAPACITY", "")
    try:
        enroll(config_path=config_path, server=server, token=token, agent_id=os.environ.get("PERFMON_AGENT_ID", ""),
               name=os.environ.get("PERFMON_AGENT_NAME", ""), location=os.environ.get("PERFMON_AGENT_LOCATION", ""),
               capacity=int(capacity) if capacity.isdigit() and int(capacity) > 0 else None,
               data_dir=os.environ.get("PERFMON_AGENT_DATA_DIR", ""),
               run_as_user=os.environ.get("PERFMON_AGENT_RUN_AS") or None,
               tools=[t.strip() for t in os.environ["PERFMON_AGENT_TOOLS"].split(",") if t.strip()]
               if os.environ.get("PERFMON_AGENT_TOOLS") else None, wait_s=120.0)
    except EnrollError as exc:
        print(f"perfmon-agent: {exc}", file=sys.stderr)
        return 1
    log.info("enrolled from the environment; config written to %s", config_path)
    return 0


def cmd_run(config_path: Path) -> int:
    from agents.spool import SpoolLocked
    from agents.worker import run_agent

    if not config_path.exists():
        enrolled = _auto_enroll(config_path)
        if enrolled:
            return enrolled
    try:
        config = load(config_path)
    except ConfigError as exc:
        print(f"perfmon-agent: {exc}", file=sys.stderr)
        return 1
    try:
        return run_agent(config)
    except (LookupError, PermissionError, SpoolLocked, OSError) as exc:
        print(f"perfmon-agent: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config_path = (args.config or default_config_path()).expanduser().absolute()
    if args.command == "enroll":
        return cmd_enroll(args, config_path)
    if args.command == "run":
        return cmd_run(config_path)
    from agents.doctor import doctor

    return doctor(config_path, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
