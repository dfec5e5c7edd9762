"""``/api/v1/openapi.json`` (the OpenAPI 3.1 document spectree generates from the routes, with the
headers every route shares added) and ``/api/v1/docs``: the same document as a plain HTML page,
rendered on the server (no script, no CDN), so it works under the site's CSP."""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import g, render_template

from gll_mail.web.api.core import PROBLEM, TITLES, bp, json_response
from gll_mail.web.api.schemas import ProblemBody

_cache: dict[str, Any] = {}
IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "A retried POST with the same key (and body) returns the first answer and changes nothing.",
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "The ETag you read. Required on PATCH (428 without it, 412 when stale); checked when given elsewhere.",
}


def document() -> dict[str, Any]:
    """The OpenAPI document, built once per process (the routes do not change)."""
    if "spec" not in _cache:
        from gll_mail.web.api.core import spec

        found = copy.deepcopy(spec.spec)
        found["servers"] = [{"url": "/"}]
        components = found.setdefault("components", {})
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        found["security"] = [{"bearer": []}]
        found["info"]["license"] = {"name": "MIT", "identifier": "MIT"}
        for methods in found["paths"].values():
            for method, operation in methods.items():
                params = operation.setdefault("parameters", [])
                if method == "post":
                    params.append(IDEMPOTENCY)
                    operation["responses"].setdefault(
                        "409",
                        {
                            "description": TITLES["idempotency-conflict"],
                            "content": {PROBLEM: {"schema": _problem_ref()}},
                        },
                    )
                if method in ("patch", "put", "delete"):
                    params.append(IF_MATCH)
                for code, answer in operation.get("responses", {}).items():
                    if code.startswith(("4", "5")):
                        content = answer.get("content", {})
                        schema = content.pop("application/json", {}).get("schema")
                        if schema:
                            content[PROBLEM] = {"schema": schema}
                operation["responses"].setdefault(
                    "429", {"description": TITLES["rate-limited"], "content": {PROBLEM: {"schema": _problem_ref()}}}
                )
        _cache["spec"] = found
    return _cache["spec"]


def _problem_ref() -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{ProblemBody.__name__}"}


@bp.get("/openapi.json")
def openapi_json():
    return json_response(document())


@bp.get("/docs")
def reference_page():
    """The API reference as HTML: every path, method, summary, parameters, body and answers."""
    doc = document()
    operations = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "params": op.get("parameters", []),
                    "body": _ref_name(body),
                    "responses": sorted(op.get("responses", {})),
                }
            )
    schemas = {name: json.dumps(schema, indent=2) for name, schema in doc["components"]["schemas"].items()}
    g.csp = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    return render_template("api/reference.html", doc=doc, operations=operations, schemas=schemas)


def _ref_name(schema: dict | None) -> str | None:
    if not schema:
        return None
    return schema.get("$ref", "").rsplit("/", 1)[-1] or "object"
