"""The import rules of the layout (README "Layout"), as assertions over every module's imports.

Data flows one way: request -> blueprint view -> blueprints/core (reads, operations, cache) -> models.
So the shared layer never imports a view, models never import the app above them, and the pages
and the API are siblings that share the core, never each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = ROOT / "blueprints"
API = "blueprints.api"
CORE = "blueprints.core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, package: str | None = None) -> set[str]:
    """Every module this file imports, at any depth (function-level imports count too)."""
    if package is None:
        package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _modules(*roots: Path) -> dict[str, set[str]]:
    files = [p for root in roots for p in ([root] if root.is_file() else sorted(root.rglob("*.py")))]
    return {_module_name(p): _imports(p) for p in files}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _page_packages() -> list[str]:
    """Every blueprint package or module that is neither the API nor the shared core."""
    names = {_module_name(p) for p in BLUEPRINTS.rglob("*.py")}
    top = {".".join(n.split(".")[:2]) for n in names if n.count(".") >= 1}
    return sorted(t for t in top if t not in (API, CORE))


def _violations(importers: dict[str, set[str]], forbidden) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in importers.items()
                  for target in targets if forbidden(module, target))


def test_the_page_packages_are_found():
    """Guards the rules below against passing because they look at nothing."""
    pages = _page_packages()
    assert {"blueprints.cadets", "blueprints.grades", "blueprints.training"} <= set(pages)
    assert len(_modules(BLUEPRINTS / "core")) > 30


def test_core_imports_no_view():
    core = _modules(BLUEPRINTS / "core")
    bad = _violations(core, lambda _m, target: _within(target, "blueprints") and not _within(target, CORE)
                      and target != "blueprints")
    assert bad == []


@pytest.mark.parametrize("module", ["models.py", "grading.py", "config.py"])
def test_models_and_domain_rules_import_no_view(module):
    """models.py and grading.py sit under everything; grading may reach the core's clock only."""
    found = _modules(ROOT / module)
    bad = _violations(found, lambda _m, target: _within(target, "blueprints") and not _within(target, CORE))
    assert bad == []


def test_pages_and_the_api_never_import_each_other():
    pages = _page_packages()
    everything = _modules(BLUEPRINTS)

    def crosses(module: str, target: str) -> bool:
        if module == "blueprints":  # the package that registers every blueprint
            return False
        in_api = _within(module, API)
        if in_api:
            return any(_within(target, page) for page in pages)
        in_page = next((page for page in pages if _within(module, page)), None)
        return in_page is not None and _within(target, API)

    assert _violations(everything, crosses) == []


def test_the_rules_catch_a_violation(tmp_path):
    """The import reader sees module-level, function-level and relative imports."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom ..api import responses\n\ndef f():\n    from blueprints.cadets import bp\n")
    found = {"sample": _imports(sample, package="blueprints.core")}
    assert {"blueprints.api.responses", "blueprints.cadets.bp"} <= found["sample"]
    assert _violations(found, lambda _m, target: _within(target, API)) == ["sample imports blueprints.api",
                                                                          "sample imports blueprints.api.responses"]
