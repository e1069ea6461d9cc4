"""Reading an Artillery script's ``config.phases`` without a YAML library: exactly, or not at all.

runners may not depend on PyYAML, and a split run must divide exactly the
phases Artillery runs, so this reads a JSON script, or the ``config.phases``
of a YAML script in its common forms: ``config`` a block mapping and
``phases`` a block list of ``key: value`` lines or of one-line flow mappings
(``- {duration: 60, arrivalRate: 5}``), or a one-line flow list; plain or
quoted scalars; comments. Anything else (anchors, aliases, tags, merge keys,
block scalars, nested values, flow collections over several lines, plain
numbers js-yaml reads otherwise than as decimals) is refused with
InvalidSpec rather than guessed. The tests compare its reading with
js-yaml's, Artillery's own parser.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runners.errors import InvalidSpec

SUPPORTED = ("write config.phases as a block list of 'key: value' lines or one-line flow mappings "
             "(- {duration: 60, arrivalRate: 5}), or the script as JSON")

_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[A-Za-z_$][\w$-]*)\s*:(?:\s+(.*))?$""")
_DOUBLE = re.compile(r'"(?:[^"\\]|\\.)*"')
_SINGLE = re.compile(r"'(?:[^']|'')*'")
#: a plain scalar js-yaml 3 (Artillery's parser) reads as a number (YAML 1.1: 010 is octal 8,
#: 1:30 is 90, 1_000 is 1000) ...
_YAML_NUMBER = re.compile(r"^[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|(?:0|[1-9][0-9_]*)(?:\.[0-9_]*)?"
                          r"(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+"
                          r"(?:\.[0-9_]*)?|\.(?:inf|Inf|INF|nan|NaN|NAN))$")
#: ... and the plain numbers read here: the decimals both read the same way
_PLAIN_DECIMAL = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$")


def _refuse(reason: str, lineno: int | None = None) -> InvalidSpec:
    where = f" (script line {lineno})" if lineno else ""
    return InvalidSpec(f"cannot read the script's config.phases{where}: {reason}; {SUPPORTED}")


def _plain(text: str, lineno: int) -> str:
    if _YAML_NUMBER.match(text) and not _PLAIN_DECIMAL.match(text):
        raise _refuse(f"{text} is a number YAML reads in its own way (010 is octal 8): "
                      "write it as a plain decimal", lineno)
    return text


def _quoted(text: str, lineno: int) -> tuple[str, str]:
    """The quoted scalar at the start of ``text`` and the text after it."""
    match = (_DOUBLE if text[0] == '"' else _SINGLE).match(text)
    if not match:
        raise _refuse("a quoted value that does not end on its line", lineno)
    raw = match.group()
    value = json.loads(raw) if raw[0] == '"' else raw[1:-1].replace("''", "'")
    return value, text[match.end():]


def _scalar(text: str, lineno: int) -> str:
    """A block scalar value: quoted, or plain up to a comment. Everything comes back as text."""
    text = (text or "").strip()
    if not text or text.startswith("#"):
        raise _refuse("a key without a value (nested values are not phase values)", lineno)
    if text[0] in "\"'":
        value, rest = _quoted(text, lineno)
        if rest.strip() and not rest.strip().startswith("#"):
            raise _refuse(f"text after a quoted value: {text}", lineno)
        return value
    if text[0] in "&*!|>%@`[{":
        raise _refuse(f"anchors, aliases, tags, block scalars and nested values are not read: {text}", lineno)
    return _plain(re.split(r"\s#", text, maxsplit=1)[0].strip(), lineno)


def _flow(text: str, lineno: int) -> Any:
    """A one-line flow list or mapping of scalars (``[{a: 1}, {b: "x"}]``), then at most a comment."""
    pos = 0

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1

    def value(key: bool = False) -> Any:
        nonlocal pos
        skip()
        if pos >= len(text):
            raise _refuse("a flow collection that does not end on its line", lineno)
        ch = text[pos:pos + 1]
        if ch in ("[", "{"):
            pos += 1
            items: Any = [] if ch == "[" else {}
            close = "]" if ch == "[" else "}"
            while True:
                skip()
                if text[pos:pos + 1] == close:
                    pos += 1
                    return items
                if ch == "[":
                    items.append(value())
                else:
                    name = value(key=True)
                    skip()
                    if text[pos:pos + 1] != ":" or name in items:
                        raise _refuse(f"a flow mapping it cannot read: {text.strip()}", lineno)
                    pos += 1
                    items[name] = value()
                skip()
                if text[pos:pos + 1] == ",":
                    pos += 1
                elif pos >= len(text):
                    raise _refuse("a flow collection that does not end on its line", lineno)
                elif text[pos:pos + 1] != close:
                    raise _refuse(f"a flow collection it cannot read: {text.strip()}", lineno)
        if ch in ("'", '"'):
            quoted, rest = _quoted(text[pos:], lineno)
            pos = len(text) - len(rest)
            return quoted
        match = re.compile(r"[^,\[\]{}:#]+" if key else r"[^,\[\]{}#]+").match(text, pos)
        if not match or not match.group().strip() or ch in "&*!|>%@`":
            raise _refuse(f"a flow value it cannot read: {text.strip()}", lineno)
        pos = match.end()
        return _plain(match.group().strip(), lineno)

    result = value()
    skip()
    if text[pos:].strip() and not text[pos:].lstrip().startswith("#"):
        raise _refuse(f"text after a flow collection: {text.strip()}", lineno)
    return result


def _content_lines(lines: list[str], start: int, end: int):
    """(index, indent, content) of the lines in lines[start:end] that are not blank or comments."""
    for i in range(start, end):
        content = lines[i].strip()
        if content and not content.startswith("#"):
            yield i, len(lines[i]) - len(lines[i].lstrip(" ")), content


def _key(content: str, lineno: int) -> tuple[str, str] | None:
    match = _KEY.match(content)
    if not match:
        return None
    name = match.group(1)
    if name[0] in "\"'":
        name = _quoted(name, lineno)[0]
    return name, (match.group(2) or "")


def _find(lines: list[str], start: int, end: int, indent: int, wanted: str) -> tuple[int, str] | None:
    """The line and inline value of key ``wanted`` among the keys at ``indent`` in lines[start:end]."""
    found = None
    for i, at, content in _content_lines(lines, start, end):
        if at != indent or content.startswith("-"):
            continue
        if content.startswith("<<"):
            raise _refuse("a merge key (<<)", i + 1)
        key = _key(content, i + 1)
        if key and key[0] == wanted:
            if found is not None:
                raise _refuse(f"the key {wanted!r} twice", i + 1)
            found = (i, key[1])
    return found


def _block_phases(lines: list[str], start: int, parent: int) -> list[dict]:
    """The block list under ``phases:`` (a key at indent ``parent``) starting at lines[start]."""
    phases: list[dict] = []
    item_indent = content_indent = None
    for i, at, content in _content_lines(lines, start, len(lines)):
        if lines[i].lstrip(" ").startswith("\t"):
            raise _refuse("a tab in the indentation", i + 1)
        item = content == "-" or content.startswith("- ")
        if at < parent or (at == parent and not item):
            break  # the next key of config, or the end of config
        if item and (item_indent is None or at == item_indent):
            item_indent = at
            rest = content[1:].lstrip(" ")
            content_indent = at + len(content) - len(rest)
            if rest.startswith("{"):
                phases.append(_flow(rest, i + 1))
                content_indent = None  # a flow item has no continuation lines
                continue
            if rest[:1] in tuple("&*!|>%@`"):
                raise _refuse(f"anchors, aliases, tags and block scalars are not read: {rest}", i + 1)
            key = _key(rest, i + 1)
            if key is None:
                raise _refuse("a list item that is not a 'key: value' line or a flow mapping", i + 1)
            phases.append({key[0]: _scalar(key[1], i + 1)})
        elif at == content_indent and (key := _key(content, i + 1)) is not None:
            if key[0] in phases[-1]:
                raise _refuse(f"the key {key[0]!r} twice in a phase", i + 1)
            phases[-1][key[0]] = _scalar(key[1], i + 1)
        else:
            raise _refuse("a line that is not part of a phase", i + 1)
    return phases


def read_phases(text: str) -> list[dict]:
    """The script's ``config.phases``: a list of {key: value} (values as text, or JSON's numbers).

    Raises InvalidSpec for phases it cannot read exactly (the module docstring),
    for a script without config.phases and for an empty list.
    """
    body = text.lstrip("\ufeff")
    if body.lstrip().startswith("{"):
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise _refuse(f"the script starts with '{{' but is not JSON ({exc})") from None
        config = document.get("config") if isinstance(document, dict) else None
        phases = config.get("phases") if isinstance(config, dict) else None
    else:
        lines = body.splitlines()
        found = _find(lines, 0, len(lines), 0, "config")
        if found is None:
            raise _refuse("the script has no top-level config")
        at, inline = found
        if inline.strip() and not inline.strip().startswith("#"):
            raise _refuse("config is not a block mapping", at + 1)
        end = next((i for i, indent, _ in _content_lines(lines, at + 1, len(lines)) if indent == 0), len(lines))
        children = [indent for _, indent, _ in _content_lines(lines, at + 1, end)]
        found = _find(lines, at + 1, end, children[0], "phases") if children else None
        phases = None
        if found is not None:
            at, inline = found
            inline = inline.strip()
            if not inline or inline.startswith("#"):
                phases = _block_phases(lines, at + 1, children[0])
            elif inline.startswith("["):
                phases = _flow(inline, at + 1)
            else:
                raise _refuse("phases is not a list", at + 1)
    if phases is None:
        raise InvalidSpec("the script has no config.phases: a split run divides the phases' arrivals")
    if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
        raise _refuse("config.phases is not a list of mappings")
    if not phases:
        raise InvalidSpec("the script's config.phases is empty: there are no arrivals to split")
    for phase in phases:
        if any(isinstance(v, (dict, list)) for v in phase.values()):
            raise _refuse("a phase value that is a collection")
    return phases
