"""The machine-readable contract: a valid OpenAPI document that names exactly the routes the
extension registers, with the contract's error shape on every 4xx/5xx and both auth schemes.

``registered_routes()`` is also what the auth and bad-input tests walk, so a route added to the
extension without a place in the contract fails here first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import schemathesis
from tornado import web

from jupyter_ext.app import CodeStreamApp
from jupyter_ext.handlers.explicit_save import ExplicitSaveHandler
from jupyter_ext.handlers.openapi import openapi_document

HTTP_METHODS = ("get", "post", "put", "delete", "patch")
PATH_PARAM = re.compile(r"\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    pattern: str  # as registered with tornado (relative to base_url)
    path: str  # the OpenAPI form, e.g. /codestream/api/sessions/{code}
    handler: type
    methods: tuple[str, ...]

    def url(self, **params: str) -> str:
        """A relative URL of this route with the given path parameters (any other one, such as a
        hand id, a made-up one: the route must still refuse what it is asked to refuse)."""
        return self.path.lstrip("/").format_map({"hand_id": "nohand", **params})


def openapi_path(pattern: str) -> str:
    """``codestream/api/sessions/(?P<code>[^/]+)/?`` -> ``/codestream/api/sessions/{code}``."""
    path = PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", pattern)
    return "/" + path.removesuffix("$").removesuffix("/?").rstrip("/")


def implemented_methods(handler: type) -> tuple[str, ...]:
    return tuple(m for m in HTTP_METHODS if getattr(handler, m) is not getattr(web.RequestHandler, m))


def registered_routes() -> list[Route]:
    """Every route the extension registers, taken from ``CodeStreamApp.initialize_handlers``."""
    app = CodeStreamApp()
    app.session_service = object()
    app.student_service = object()  # the student side is part of every server
    app.initialize_handlers()
    return [Route(spec[0], openapi_path(spec[0]), spec[1], implemented_methods(spec[1])) for spec in ours(app.handlers)]


def ours(specs: list[tuple]) -> list[tuple]:
    """The extension's own routes: not Jupyter's checkpoint route it listens on (Jupyter documents it)."""
    return [spec for spec in specs if not issubclass(spec[1], ExplicitSaveHandler)]


def hub_routes() -> list[Route]:
    """The routes of a single-user server under JupyterHub (``jupyter_ext.hub.singleuser``)."""
    app = CodeStreamApp()
    app.hub_client = object()
    app.student_service = object()
    app.initialize_handlers()
    return [Route(spec[0], openapi_path(spec[0]), spec[1], implemented_methods(spec[1])) for spec in ours(app.handlers)]


def load_document() -> dict:
    return json.loads(openapi_document())


def normalized(path: str) -> str:
    return path.rstrip("/") or "/"


def documented_operations(document: dict) -> dict[tuple[str, str], dict]:
    """``{(normalized path, method): operation}`` of the document."""
    operations = {}
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                operations[(normalized(path), method)] = item[method]
    return operations


def read_operations(document: dict) -> set[tuple[str, str]]:
    """Operations a student key may open (those whose security lists ``studentKey``)."""
    return {key for key, op in documented_operations(document).items()
            if any("studentKey" in requirement for requirement in op.get("security", []))}


def resolve(document: dict, ref: str):
    assert ref.startswith("#/"), f"only local references: {ref}"
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def deref(document: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(document, node["$ref"])
    return node


# ---------------------------------------------------------------------------------------------

def test_document_is_valid_openapi_and_every_reference_resolves():
    document = load_document()
    assert document["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(document).validate()  # the official OpenAPI meta-schema

    refs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs, "the document is expected to share its schemas through components"
    for ref in refs:
        resolve(document, ref)
    ids = [op["operationId"] for op in documented_operations(document).values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_validation_rejects_a_broken_document():
    """The validity check above can fail: a response without its required description is caught."""
    document = load_document()
    del document["paths"]["/codestream/api/sessions"]["get"]["responses"]["200"]["description"]
    try:
        schemathesis.openapi.from_dict(document).validate()
    except Exception as exc:  # jsonschema_rs.ValidationError
        assert "description" in str(exc)
    else:
        raise AssertionError("a document without a response description passed validation")


def test_every_registered_route_is_documented_and_vice_versa():
    document = load_document()
    documented = set(documented_operations(document))
    registered = {(normalized(route.path), method) for route in registered_routes() for method in route.methods}
    assert registered, "no routes found"
    hub_only = {key for key, operation in documented_operations(document).items() if operation.get("x-codestream-hub")}
    under_hub = {(normalized(route.path), method) for route in hub_routes() for method in route.methods}
    assert hub_only and hub_only <= under_hub, f"hub routes not registered under a hub: {sorted(hub_only - under_hub)}"
    assert not hub_only & registered, "a hub-only route is also a laptop route"
    assert under_hub - registered == hub_only, f"hub routes not in openapi.json: {sorted(under_hub - registered - hub_only)}"
    documented -= hub_only
    assert not registered - documented, f"registered but not in openapi.json: {sorted(registered - documented)}"
    assert not documented - registered, f"in openapi.json but not registered: {sorted(documented - registered)}"


def test_every_error_response_has_the_contract_shape():
    document = load_document()
    v1_error = resolve(document, "#/components/schemas/Error")
    assert v1_error["required"] == ["error"]
    assert set(v1_error["properties"]["error"]["required"]) == {"code", "message"}
    compat_error = resolve(document, "#/components/schemas/CompatError")
    assert set(compat_error["required"]) == {"status", "message"}
    for (path, method), operation in documented_operations(document).items():
        if {} in operation["security"]:  # public: only the join page, a page for people (tests/test_join.py)
            assert (path, method) == ("/codestream/join/{code}", "get")
            continue
        expected = "#/components/schemas/CompatError" if path.startswith("/code_stream/") else "#/components/schemas/Error"
        errors = {status: deref(document, response) for status, response in operation["responses"].items()
                  if status[0] in "45"}
        assert "403" in errors, f"{method} {path}: every route answers 403 without Jupyter auth or a key"
        for status, response in errors.items():
            content = response.get("content", {})
            assert list(content) == ["application/json"], f"{method} {path} {status}: {list(content)}"
            assert content["application/json"]["schema"] == {"$ref": expected}, f"{method} {path} {status}"
        successes = [s for s in operation["responses"] if s[0] == "2"]
        assert len(successes) == 1, f"{method} {path}: one success status, got {successes}"


def test_security_schemes_student_key_only_on_read_routes():
    document = load_document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["jupyterToken"] == {**schemes["jupyterToken"], "type": "apiKey", "in": "header",
                                       "name": "Authorization"}
    assert "token <" in schemes["jupyterToken"]["description"]
    assert schemes["studentKey"]["type"] == "http" and schemes["studentKey"]["scheme"] == "bearer"
    for key, operation in documented_operations(document).items():
        security = operation.get("security")
        assert security, f"{key}: no security requirement"
        assert {"jupyterToken": []} in security, f"{key}: the Jupyter token must open every route"
    assert read_operations(document) == {
        ("/codestream/api/sessions/{code}/cells", "get"),
        ("/codestream/api/sessions/{code}/cells/{cell_id}", "get"),
        ("/codestream/api/sessions/{code}/events", "get"),
        ("/codestream/api/sessions/{code}/cells/{cell_id}/pulled", "post"),  # a student's server reports a pull
        ("/codestream/api/sessions/{code}/notebook", "get"),  # take the lesson home (v3)
        ("/codestream/api/sessions/{code}/cells/{cell_id}/runs", "post"),  # ... and how a run ended (v3)
        ("/codestream/api/sessions/{code}/hands", "post"),  # a student asks for help (v3)
        ("/codestream/api/sessions/{code}/hands/{hand_id}", "delete"),  # ... and lowers their own hand
        ("/code_stream/{code}/get-all-cell-ids", "get"),
        ("/code_stream/{code}/get-cell", "get"),
    }


def test_event_routes_are_event_streams_with_resume_header():
    document = load_document()
    events = {key: op for key, op in documented_operations(document).items() if key[0].endswith("/events")}
    assert set(events) == {("/codestream/api/sessions/{code}/events", "get"),
                           ("/codestream/api/student/events", "get")}
    for key, operation in events.items():
        assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"], key
        event = deref(document, operation["responses"]["200"]["content"]["text/event-stream"]["schema"])
        names = set()
        for variant in event["oneOf"]:
            name = variant["properties"]["event"]
            names |= set(name.get("enum", [name.get("const")]))
            assert set(variant["required"]) >= {"event", "data", "id"}
        # v1's names, v2's "pulled" (who pulled what, for the teacher's dashboard), v3's teacher-only ones
        assert names == {"published", "updated", "unpublished", "session_ended", "pulled", "runs", "hand", "hand_state"}
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["Last-Event-ID"], key


def test_served_document_is_the_packaged_one_and_needs_jupyter_auth(cs_teacher):
    served = cs_teacher.client().get("codestream/api/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
    assert served.json() == load_document()
    refused = cs_teacher.client(auth=False).get("codestream/api/openapi.json")
    assert refused.status_code == 403
    assert set(refused.json()["error"]) == {"code", "message"}
