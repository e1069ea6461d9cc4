"""The import rules (docs/architecture.md): runners imports nothing of ours (nor Django or
Celery), agents never imports Django or perfmon, perfmon never imports agents,
and the CI client perfmon_cli is HTTP only. Inside perfmon, each app imports only
the apps before it in one order, counting imports inside functions."""

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


# --- the apps inside perfmon/ ------------------------------------------------------------------

# Each app may import the apps before it, never one after it. The surfaces (the APIs and the
# dashboard) may import every app, never each other. Project modules (perfmon.celery, settings,
# envconf) are for anyone.
APP_ORDER = ["core", "tenants", "accounts", "definitions", "fleet", "monitors", "runs", "alerts", "operations"]
SURFACES = ["api", "web"]


def perfmon_imports(path: Path) -> list[tuple[int, str]]:
    """(line, app) of every import of a perfmon app in ``path``, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from perfmon import runs` names the app in the imported names.
            modules = [f"perfmon.{alias.name}" for alias in node.names] if node.module == "perfmon" else [node.module]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "a relative import"))  # spelled out, so the rule can read it
            continue
        else:
            continue
        found.extend((node.lineno, module.split(".")[1]) for module in modules
                     if module.startswith("perfmon.") and module.split(".")[1] in APP_ORDER + SURFACES)
    return found


def test_every_app_and_surface_is_listed():
    packages = {path.parent.name for path in (ROOT / "perfmon").glob("*/__init__.py")}
    assert packages == set(APP_ORDER + SURFACES)


def test_apps_import_only_the_apps_before_them():
    offenders = []
    for path in sorted((ROOT / "perfmon").rglob("*.py")):
        parts = path.relative_to(ROOT / "perfmon").parts
        if len(parts) < 2 or "migrations" in parts:
            continue
        app = parts[0]
        for line, imported in perfmon_imports(path):
            if imported == app:
                continue
            if app in SURFACES:
                allowed = imported in APP_ORDER
            else:
                allowed = imported in APP_ORDER and APP_ORDER.index(imported) < APP_ORDER.index(app)
            if not allowed:
                offenders.append(f"{path.relative_to(ROOT)}:{line} ({app}) imports {imported}")
    assert offenders == []


def test_the_app_rule_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from perfmon.alerts.rules import on_run_finished\n    import perfmon.web.views\n"
                      "from perfmon import runs\n")
    assert sorted(perfmon_imports(module)) == [(2, "alerts"), (3, "web"), (4, "runs")]
