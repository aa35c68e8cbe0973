"""Checks onestopd's responses against its API document (docs/openapi.yaml).

onestop_env.request() hands every response from an onestopd to check(); a response the
document does not describe (an unknown path, method or status, another content type, a body
that does not match the schema) is a violation: check() raises it, and conftest.py fails the
test that received it even when the request was made on another thread.

The document is read as the build converted it (build/gateway/openapi.json), which is what
onestopd serves. Schemas are checked by a small JSON Schema (2020-12) checker below: it knows
the keywords the document uses and refuses any other, so a keyword it would ignore cannot
make a check look stricter than it is. Only the Python standard library is used."""

import json
import os
import re
import threading

_doc = None
_lock = threading.Lock()
violations = []  # (method, path, status, message), appended by check()
checked = 0  # responses checked, for the summary at the end of a run

# A 405 answers a method the route table has no row for on a known path: the document lists
# only the methods that exist, so a 405 is taken for any method it does not list.
_CATCH_ALL = "/{path}"  # the route table's "/*", matched last, any depth


class ContractError(AssertionError):
    pass


def document_path():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    build = os.path.join(root, os.environ.get("ONESTOP_BUILD_DIR", "build"))
    return os.path.join(build, "gateway", "openapi.json")


def document():
    global _doc
    if _doc is None:
        with open(document_path(), encoding="utf-8") as f:
            _doc = json.load(f)
    return _doc


# ---- paths ----

def _template_regex(template):
    parts = []
    for seg in template.strip("/").split("/"):
        parts.append("[^/]+" if seg.startswith("{") and seg.endswith("}") else re.escape(seg))
    return re.compile("^/" + "/".join(parts) + "$")


def find_path(path):
    """The document's path template for a request path (query removed), or None."""
    path = path.split("?", 1)[0]
    best = None
    for template in document()["paths"]:
        if template == _CATCH_ALL:
            continue
        if _template_regex(template).match(path):
            literal = sum(1 for s in template.split("/") if s and not s.startswith("{"))
            if best is None or literal > best[0]:
                best = (literal, template)
    if best:
        return best[1]
    return _CATCH_ALL if _CATCH_ALL in document()["paths"] else None


def template_as_pattern(template):
    """A document path as `onestopd --routes` writes it ("{}" for a parameter, "/*")."""
    if template == _CATCH_ALL:
        return "/*"
    return re.sub(r"\{[^}]*\}", "{}", template)


# ---- schemas ----

_ANNOTATIONS = {"description", "title", "format", "example", "examples", "default",
                "contentMediaType", "deprecated", "readOnly", "writeOnly"}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(ref):
    if not ref.startswith("#/"):
        raise ContractError(f"only local $ref is supported: {ref}")
    node = document()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_errors(schema, value, where="$"):
    """Every way value fails schema, as a list of strings (empty when it fits)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{where}: nothing is allowed here"]
    errors = []
    for key, want in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "$ref":
            errors += schema_errors(_resolve(want), value, where)
        elif key == "type":
            types = want if isinstance(want, list) else [want]
            if not any(_TYPES[t](value) for t in types):
                return [f"{where}: {json.dumps(value)[:80]} is not {'/'.join(types)}"]
        elif key == "enum":
            if value not in want:
                errors.append(f"{where}: {value!r} is not one of {want}")
        elif key == "const":
            if value != want:
                errors.append(f"{where}: {value!r} is not {want!r}")
        elif key == "required":
            if isinstance(value, dict):
                missing = [k for k in want if k not in value]
                if missing:
                    errors.append(f"{where}: missing {missing}")
        elif key == "properties":
            if isinstance(value, dict):
                for name, sub in want.items():
                    if name in value:
                        errors += schema_errors(sub, value[name], f"{where}.{name}")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                for name, v in value.items():
                    if name not in known:
                        errors += schema_errors(want, v, f"{where}.{name}")
        elif key == "items":
            if isinstance(value, list):
                for i, v in enumerate(value):
                    errors += schema_errors(want, v, f"{where}[{i}]")
        elif key == "allOf":
            for sub in want:
                errors += schema_errors(sub, value, where)
        elif key == "anyOf":
            if all(schema_errors(sub, value, where) for sub in want):
                errors.append(f"{where}: matches none of anyOf")
        elif key == "oneOf":
            fits = [sub for sub in want if not schema_errors(sub, value, where)]
            if len(fits) != 1:
                detail = "; ".join(e for sub in want for e in schema_errors(sub, value, where)[:2])
                errors.append(f"{where}: matches {len(fits)} of oneOf ({detail})")
        elif key in ("minimum", "maximum", "minLength", "maxLength", "pattern", "minItems"):
            errors += _bound(key, want, value, where)
        else:
            raise ContractError(f"the checker does not know the keyword {key!r} ({where})")
    return errors


def _bound(key, want, value, where):
    number = _TYPES["number"](value)
    if key == "minimum" and number and value < want:
        return [f"{where}: {value} < {want}"]
    if key == "maximum" and number and value > want:
        return [f"{where}: {value} > {want}"]
    if key == "minLength" and isinstance(value, str) and len(value) < want:
        return [f"{where}: shorter than {want}"]
    if key == "maxLength" and isinstance(value, str) and len(value) > want:
        return [f"{where}: longer than {want}"]
    if key == "pattern" and isinstance(value, str) and not re.search(want, value):
        return [f"{where}: {value!r} does not match {want}"]
    if key == "minItems" and isinstance(value, list) and len(value) < want:
        return [f"{where}: fewer than {want} items"]
    return []


def schema_keyword_problems(schema, where="$"):
    """Keywords of schema (and the schemas inside it) that the checker does not know."""
    if not isinstance(schema, dict):
        return [] if isinstance(schema, bool) else [f"{where}: not a schema"]
    found = []
    for key, want in schema.items():
        if key in ("properties",):
            for name, sub in want.items():
                found += schema_keyword_problems(sub, f"{where}.{name}")
        elif key in ("items", "additionalProperties"):
            found += schema_keyword_problems(want, f"{where}.{key}")
        elif key in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(want):
                found += schema_keyword_problems(sub, f"{where}.{key}[{i}]")
        elif key not in _ANNOTATIONS and key not in _KEYWORDS:
            found.append(f"{where}: unknown keyword {key!r}")
    return found


_KEYWORDS = {"$ref", "type", "enum", "const", "required", "minimum", "maximum", "minLength",
             "maxLength", "pattern", "minItems"}


# ---- responses ----

def _response_spec(method, path, status):
    """(spec, template) for a response, or raise ContractError saying what is unknown."""
    template = find_path(path)
    if template is None:
        raise ContractError("the document has no path for it")
    item = document()["paths"][template]
    op = item.get(method.lower())
    if op is None:
        if status == 405:
            return {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}, template
        raise ContractError(f"the document has no {method} for {template}")
    spec = op["responses"].get(str(status))
    if spec is None:
        raise ContractError(f"{method} {template} does not list status {status}"
                            f" (it lists {sorted(op['responses'])})")
    if "$ref" in spec:
        spec = _resolve(spec["$ref"])
    return spec, template


def problems(method, path, status, headers, body):
    """What is wrong with a response by the document: a list of strings, empty when right."""
    try:
        spec, template = _response_spec(method, path, status)
    except ContractError as e:
        return [str(e)]
    content = spec.get("content")
    media = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if not content:
        return [f"status {status} has no body by the document, got {len(body)} bytes"] if body else []
    if media not in content:
        return [f"content type {media or '(none)'} is not one of {sorted(content)}"]
    schema = content[media].get("schema", {})
    if media == "application/json" or media.endswith("+json"):
        try:
            value = json.loads(body)
        except ValueError as e:
            return [f"the body is not JSON: {e}"]
        return schema_errors(schema, value)
    if media == "application/pdf":
        return [] if body.startswith(b"%PDF-") else ["the body is not a PDF"]
    if media.startswith("text/"):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return ["the text body is not UTF-8"]
    return []


def check(method, path, response):
    """Checks one response; raises ContractError (and records it) when it is not as documented."""
    global checked
    found = problems(method.upper(), path, response.status, response.headers, response.body)
    with _lock:
        checked += 1
        if found:
            violations.append((method.upper(), path, response.status, found))
    if found:
        raise ContractError(f"{method} {path} -> {response.status} is not as docs/openapi.yaml"
                            f" says: " + "; ".join(found[:5]) + f" (body {response.body[:300]!r})")
