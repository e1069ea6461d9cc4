"""DESIGN.md's import rules: runners imports nothing of ours (nor Django or
Celery), agents never imports Django or perfmon, perfmon never imports agents,
and the CI client perfmon_cli is HTTP only."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "runners": {"django", "rest_framework", "celery", "kombu", "perfmon", "agents", "requests"},
    "agents": {"django", "rest_framework", "perfmon"},
    "perfmon": {"agents", "perfmon_cli"},
    "perfmon_cli": {"django", "rest_framework", "celery", "perfmon", "agents", "runners"},
}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_rules(package):
    source = ROOT / package
    assert source.is_dir(), f"{package}/ is missing"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN[package])
        for path in source.rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}


def test_runners_spawn_no_processes():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "runners").rglob("*.py")
        if {"subprocess", "multiprocessing"} & imported_top_levels(path)
    ]
    assert offenders == []
