"""GET /api/docs: the OpenAPI document drawn as a page for people (every path, its parameters, bodies,
responses and an example call).

Server-rendered from document() rather than a vendored renderer (Swagger UI, Redoc): no JavaScript
bundle to vendor and keep patched, nothing the strict CSP (script-src 'self', no inline styles) has to
loosen for, and the page reads without scripts, on a phone and in a terminal browser alike.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from flask import render_template
from flask.typing import ResponseReturnValue

from blueprints.api import bp
from blueprints.api.openapi import document

_REF = "#/components/schemas/"
_SAMPLE_TEXT = {"date": "2026-09-01", "date-time": "2026-09-01T07:30:00+08:00"}


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas[schema["$ref"].removeprefix(_REF)]
    return schema


def example(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a JSON Schema: the documented default, first choice or a typed placeholder."""
    schema = _resolve(schema, schemas)
    if depth > 6:
        return None
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, schemas).get("type") != "null"] or schema[key]
            return example(options[0], schemas, depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: example(sub, schemas, depth + 1) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema.get("items", {}), schemas, depth + 1)]
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 88.5
    if kind == "boolean":
        return True
    if kind == "string":
        return _SAMPLE_TEXT.get(schema.get("format", ""), "text")
    return None


def describe(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    """A one-line type: "integer, 1 to 100", "one of: merit, demerit", "Cadet" (a named schema)."""
    if "$ref" in schema:
        return schema["$ref"].removeprefix(_REF)
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(describe(s, schemas) for s in schema["anyOf"])
    parts = [schema.get("type", "any")]
    if "format" in schema:
        parts[0] += f" ({schema['format']})"
    if schema.get("type") == "array":
        parts[0] = f"array of {describe(schema.get('items', {}), schemas)}"
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"{schema.get('minimum', '…')} to {schema.get('maximum', '…')}")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    return ", ".join(str(p) for p in parts)


def _fields(schema: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, str]]:
    schema = _resolve(schema, schemas)
    required = set(schema.get("required", ()))
    return [{"name": name, "type": describe(sub, schemas), "required": name in required,
             "description": sub.get("description", "")} for name, sub in schema.get("properties", {}).items()]


def _call(path: str, method: str, body: Any) -> str:
    """A curl line for the operation, with 1 for every id in the path."""
    lines = [f'curl -s -X {method.upper()} "http://127.0.0.1:8000{re.sub(r"[{][^}]+[}]", "1", path)}" \\',
             '  -H "Authorization: Bearer $TOKEN"']
    if body is not None:
        lines[-1] += " \\"
        lines += ["  -H 'Content-Type: application/json' \\", f"  -d '{json.dumps(body)}'"]
    return "\n".join(lines)


def _operation(path: str, method: str, op: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    body = example(body_schema, schemas) if body_schema else None
    responses = []
    for code, answer in op["responses"].items():
        content = answer.get("content", {}).get("application/json", {}).get("schema")
        responses.append({"code": code, "description": answer["description"],
                          "type": describe(content, schemas) if content else "no body"})
    ok = next((r for c, r in op["responses"].items() if c.startswith("2")), {})
    ok_schema = ok.get("content", {}).get("application/json", {}).get("schema")
    return {
        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "").strip("-"),
        "method": method.upper(), "path": path, "summary": op.get("summary", ""),
        "roles": ", ".join(r.replace("_", " ") for r in op.get("x-roles", ())) or "anyone (no token)",
        "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                        "type": describe(p["schema"], schemas), "description": p.get("description", "")}
                       for p in op.get("parameters", ())],
        "body_name": describe(body_schema, schemas) if body_schema else None,
        "body_fields": _fields(body_schema, schemas) if body_schema else [],
        "responses": responses,
        "call": _call(path, method, body),
        "answer": json.dumps(example(ok_schema, schemas), indent=2) if ok_schema else None,
    }


@cache
def docs_context() -> dict[str, Any]:
    """Everything the page draws, from the OpenAPI document (built once per process, like it)."""
    doc = document()
    schemas = doc["components"]["schemas"]
    operations = [_operation(path, method, op, schemas)
                  for path, methods in doc["paths"].items() for method, op in methods.items()]
    return {"info": doc["info"], "operations": operations, "paths": list(doc["paths"])}


@bp.get("/docs")
def api_docs() -> ResponseReturnValue:
    return render_template("api/docs.html", **docs_context())
