"""The live control plane, agents and local target of the agent's end-to-end tests, shared here."""

from tests.agents.test_agent_e2e import agents, log_dir, target, tenant  # noqa: F401
