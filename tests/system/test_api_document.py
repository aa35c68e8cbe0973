"""The API document (issue 16): docs/openapi.yaml describes every route of the route table and
nothing else, onestopd serves it at /api/v1/openapi.json, and the checker that holds every
response of the system tests to it (api_contract.py) refuses what the document does not say."""

import json
import os
import subprocess

import pytest

import api_contract
from onestop_env import ONESTOPD, ROOT, Response

METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def routes():
    out = subprocess.run([ONESTOPD, "--routes"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def operations():
    doc = api_contract.document()
    for template, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), template, op


def test_every_route_is_documented_and_nothing_else():
    table = {(r["method"], r["pattern"]) for r in routes()}
    documented = {(m, api_contract.template_as_pattern(t)) for m, t, _ in operations()}
    assert not table - documented, f"routes missing from docs/openapi.yaml: {sorted(table - documented)}"
    assert not documented - table, f"docs/openapi.yaml documents no such route: {sorted(documented - table)}"


def test_each_operation_names_who_may_call_it():
    access = {(r["method"], r["pattern"]): r["access"] for r in routes()}
    doc = api_contract.document()
    schemes = doc["components"]["securitySchemes"]
    for method, template, op in operations():
        level = access[(method, api_contract.template_as_pattern(template))]
        assert f"({level}" in op["summary"], f"{method} {template}: the summary names no {level}"
        security = op.get("security", doc["security"])
        if level == "public":
            # no session; callbacks name the credential they carry instead
            assert all("session" not in s for s in security), f"{method} {template}"
        else:
            assert security == [{"session": []}], f"{method} {template}"
            assert "401" in op["responses"], f"{method} {template} lists no 401"
        for requirement in security:
            assert set(requirement) <= set(schemes), f"{method} {template}: {requirement}"
        assert op.get("operationId"), f"{method} {template} has no operationId"


def test_the_document_is_served_as_built(gateway):
    r = gateway.request("GET", "/api/v1/openapi.json")  # public: no token
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    served = r.json
    assert served == api_contract.document()
    assert served["openapi"].startswith("3.1.")
    yaml = pytest.importorskip("yaml")  # python3-yaml, which the build needs anyway
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        assert served == yaml.safe_load(f), "the build's openapi.json is older than docs/openapi.yaml"


def test_every_reference_in_the_document_resolves():
    doc = api_contract.document()

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    api_contract._resolve(v)  # raises KeyError when it names nothing
                else:
                    walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(doc, "#")


def test_every_schema_uses_only_keywords_the_checker_knows():
    """(A YAML slip such as an unquoted comma in a flow mapping makes a stray keyword.)"""
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema":
                    found.extend(api_contract.schema_keyword_problems(v, f"{where}/schema"))
                elif k == "schemas":
                    for name, schema in v.items():
                        found.extend(api_contract.schema_keyword_problems(schema, name))
                else:
                    walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(api_contract.document(), "#")
    assert not found, found


def _json(status, value, content_type="application/json"):
    return Response(status, {"content-type": content_type}, json.dumps(value).encode())


SESSION = {"expires_at": "2026-12-01T08:00:00Z", "idle_timeout_s": 900, "counter": "SD-01",
           "staff": {"username": "assistant", "role": "assistant"}}


def test_the_checker_refuses_what_the_document_does_not_say():
    p = api_contract.problems
    ok = _json(200, SESSION)
    assert p("GET", "/api/v1/sessions/current", 200, ok.headers, ok.body) == []
    # a missing required member, a wrong type, a value outside an enum
    for broken in ({k: v for k, v in SESSION.items() if k != "counter"},
                   dict(SESSION, idle_timeout_s="900"),
                   dict(SESSION, staff={"username": "a", "role": "cashier"})):
        r = _json(200, broken)
        assert p("GET", "/api/v1/sessions/current", 200, r.headers, r.body), broken
    # members the document does not name are allowed where the API may grow
    r = _json(200, dict(SESSION, site="Stockport Central Library"))
    assert p("GET", "/api/v1/sessions/current", 200, r.headers, r.body) == []
    # an unknown status, method, content type; an error without its code
    assert p("GET", "/api/v1/sessions/current", 418, ok.headers, ok.body)
    assert p("PUT", "/api/v1/sessions/current", 200, ok.headers, ok.body)
    assert p("GET", "/api/v1/sessions/current", 200, {"content-type": "text/html"}, b"<p>")
    r = _json(401, {"error": {"message": "Sign in."}})
    assert p("GET", "/api/v1/sessions/current", 401, r.headers, r.body)
    # a 422 lists its fields; a 204 has no body
    r = _json(422, {"error": {"code": "validation_failed", "message": "1 field needs attention"}})
    assert p("POST", "/api/v1/quotes", 422, r.headers, r.body)
    r = _json(204, {"deleted": True})
    assert p("DELETE", "/api/v1/sessions/current", 204, r.headers, r.body)
    # a path template's parameter matches one segment; the web app's files any depth
    assert api_contract.find_path("/api/v1/transactions/RP-0000-0000/status?x=1") == \
        "/api/v1/transactions/{reference}/status"
    assert api_contract.find_path("/api/v1/callbacks/notify") == "/api/v1/callbacks/notify"
    assert api_contract.find_path("/js/app.js") == "/{path}"


def test_responses_were_checked_in_this_run(gateway):
    before = api_contract.checked
    r = gateway.request("GET", "/api/v1/services")
    assert r.status == 401
    assert api_contract.checked == before + 1
