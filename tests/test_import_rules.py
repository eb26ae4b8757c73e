"""The layering the package docstrings state, as assertions over every import in the app's code.

Imports point down: page areas -> blueprints.pages -> blueprints.core -> models and grading; the API
-> core. Function-level imports count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ("models", "model_base", "accounts", "bookkeeping", "triggers")  # models imports the others
AREAS = ("account", "admin", "auth", "cadets", "checkin", "dashboard", "grades", "home", "merits", "printing",
         "training")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module this file imports; `from a import b` counts as a and a.b (b may be a module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    files = [*ROOT.glob("blueprints/**/*.py"), *(ROOT / f"{name}.py" for name in (*SCHEMA, "grading")),
             *ROOT.glob("tests/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("migrations/**/*.py"), ROOT / "app.py"]
    return {_module_name(f): _imports(f, _module_name(f)) for f in files}


GRAPH = _graph()


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _area(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "blueprints" and parts[1] in AREAS else None


VIEWS = ("blueprints.api", "blueprints.pages", *(f"blueprints.{a}" for a in AREAS))


def _breaking(rule) -> list[str]:
    return sorted(f"{src} -> {dst}" for src, targets in GRAPH.items() for dst in targets if rule(src, dst))


RULES = {
    "core imports no blueprint, API or pages module": lambda s, d: _under(s, "blueprints.core") and _under(d, *VIEWS),
    "the schema and grading import no view module": lambda s, d: s in (*SCHEMA, "grading") and _under(d, *VIEWS),
    "triggers (the schema's SQL) import nothing of the app": lambda s, d: s == "triggers"
    and (d in GRAPH or _under(d, "blueprints")),
    # One place to import tables from: the rooms build on model_base, the rest of the app names them via models.
    "the schema's rooms are named through models": lambda s, d: s not in SCHEMA
    and d.partition(".")[0] in ("model_base", "accounts", "bookkeeping"),
    "the schema's rooms build on model_base, not on models": lambda s, d: s in ("model_base", "accounts",
                                                                                "bookkeeping") and d == "models",
    "pages import neither the API nor a page area": lambda s, d: _under(s, "blueprints.pages")
    and (_under(d, "blueprints.api") or _area(d) is not None),
    "the API imports neither pages nor a page area": lambda s, d: _under(s, "blueprints.api")
    and (_under(d, "blueprints.pages") or _area(d) is not None),
    "a page area imports no other area and not the API": lambda s, d: _area(s) is not None
    and (_under(d, "blueprints.api") or _area(d) not in (None, _area(s))),
    "reads import no operation": lambda s, d: _under(s, "blueprints.core.reads")
    and _under(d, "blueprints.core.operations"),
    "recording (perf) imports nothing of monitoring": lambda s, d: _under(s, "blueprints.core.perf")
    and _under(d, "blueprints.core.monitoring"),
}


@pytest.mark.parametrize("rule", RULES, ids=list(RULES))
def test_import_rule(rule):
    assert _breaking(RULES[rule]) == []


def test_the_rules_see_real_imports():
    """The graph is built from the code: known edges are in it, and a rule finds an edge that breaks it."""
    assert "blueprints.core.monitoring.report" in GRAPH["blueprints.api.system"]
    assert "blueprints.core.perf.store" in GRAPH["blueprints.core.monitoring.report"]
    assert "blueprints.pages.forms.actor" in GRAPH["blueprints.cadets"]
    assert len(GRAPH) > 80
    assert {"accounts", "bookkeeping", "model_base", "triggers"} <= GRAPH["models"]
    assert "model_base" in GRAPH["accounts"] and "model_base" in GRAPH["bookkeeping"]
    assert "models" in GRAPH["blueprints.core.reads.selects"]
    # Read the other way, "reads import no operation" would catch operations that use reads.
    assert _breaking(lambda s, d: _under(s, "blueprints.core.operations") and _under(d, "blueprints.core.reads"))
