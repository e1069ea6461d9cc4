"""Field names between snake_case (serializers, services) and camelCase (the JSON of /api).

Serializers of both surfaces name their fields in snake_case; a surface that
speaks camelCase converts names at its edge with these two functions.
"""

from __future__ import annotations

import functools
import re

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")
_UNDERSCORE = re.compile(r"_([a-z0-9])")


# Answers convert the same few field names thousands of times (a 200-monitor list:
# 16,000 keys); bounded, since request bodies may bring any names.
@functools.lru_cache(maxsize=1024)
def snake(name: str) -> str:
    """``testId`` -> ``test_id``, ``apdexT`` -> ``apdex_t``; snake_case stays as it is."""
    return _UPPER.sub(r"_\1", name).lower()


@functools.lru_cache(maxsize=1024)
def camel(name: str) -> str:
    """``monitor_id`` -> ``monitorId``, ``apdex_t`` -> ``apdexT``; a name without underscores stays."""
    return _UNDERSCORE.sub(lambda match: match[1].upper(), name)


def is_camel(name: str) -> bool:
    """Whether ``name`` is the camelCase spelling of a snake_case name (``agentId``, ``load1``),
    not ``agent_id``, ``AgentId`` or ``agentID``."""
    return camel(snake(name)) == name
