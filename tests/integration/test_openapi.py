"""The OpenAPI 3.1 document (GET /api/v1/openapi.json) and the API page (GET /api/docs): every
route of docs/api.md is listed with exactly its methods, every operation has a unique
operationId, path parameters are declared, and request bodies carry the documented limits."""
import re

import pytest

from conftest import expect_json

# docs/api.md, table by table: path -> methods.
API_ROUTES = {
    "/api/v1/auth/login": {"POST"},
    "/api/v1/auth/refresh": {"POST"},
    "/api/v1/auth/logout": {"POST"},
    "/api/v1/auth/whoami": {"GET"},
    "/api/v1/auth/switch": {"POST"},
    "/api/v1/auth/password": {"POST"},
    "/api/v1/users": {"POST", "GET"},
    "/api/v1/users/{id}": {"GET", "PATCH", "DELETE"},
    "/api/v1/users/{id}/projects": {"GET"},
    "/api/v1/projects": {"POST", "GET"},
    "/api/v1/projects/{id}": {"GET", "DELETE"},
    "/api/v1/projects/{id}/members": {"GET"},
    "/api/v1/projects/{id}/members/{user_id}": {"PUT", "DELETE"},
    "/api/v1/projects/{id}/api-keys": {"POST", "GET"},
    "/api/v1/projects/{id}/api-keys/{key_id}": {"DELETE"},
    "/api/v1/audit": {"GET"},
    "/api/v1/errors": {"GET"},
    "/api/v1/system/policy/reload": {"POST"},
}
SYSTEM_ROUTES = {
    "/healthz": {"GET"},
    "/readyz": {"GET"},
    "/api/v1/version": {"GET"},
    "/metrics": {"GET"},
    "/api/v1/openapi.json": {"GET"},
    "/api/docs": {"GET"},
    "/api/v1/events": {"GET"},
}
PAGED = {("GET", "/api/v1/users"), ("GET", "/api/v1/projects"), ("GET", "/api/v1/audit"),
         ("GET", "/api/v1/errors")}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def normalise(path):
    """Parameter names do not matter for matching: /a/{x} == /a/{y}."""
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def document(module_server):
    reply = module_server.request("GET", "/api/v1/openapi.json")
    return expect_json(reply, 200)


@pytest.fixture(scope="module")
def operations(document):
    """{(METHOD, full path): (operation, path item)} with server prefixes applied."""
    prefix = ""
    servers = document.get("servers") or []
    if servers and isinstance(servers[0], dict):
        url = servers[0].get("url", "")
        prefix = re.sub(r"^[a-z]+://[^/]+", "", url).rstrip("/")
    found = {}
    for path, item in document["paths"].items():
        full = path if path.startswith("/api/") or path in SYSTEM_ROUTES or not prefix \
            else prefix + path
        for method, operation in item.items():
            if method in HTTP_METHODS:
                found[(method.upper(), full)] = (operation, item)
    return found


def methods_by_path(operations):
    table = {}
    for method, path in operations:
        table.setdefault(normalise(path), set()).add(method)
    return table


def test_document_header(document):
    assert str(document.get("openapi", "")).startswith("3.1"), document.get("openapi")
    assert document["info"]["title"] and document["info"]["version"], document["info"]
    assert isinstance(document["paths"], dict) and document["paths"]


@pytest.mark.parametrize("path", sorted(API_ROUTES))
def test_api_route_listed_with_its_methods(operations, path):
    listed = methods_by_path(operations).get(normalise(path))
    assert listed is not None, f"{path} is not in the document"
    assert listed - {"HEAD"} == API_ROUTES[path], f"{path}: {sorted(listed)}"


@pytest.mark.parametrize("path", sorted(SYSTEM_ROUTES))
def test_system_route_listed(operations, path):
    listed = methods_by_path(operations).get(normalise(path))
    assert listed is not None, f"{path} is not in the document"
    assert listed - {"HEAD"} == SYSTEM_ROUTES[path], f"{path}: {sorted(listed)}"


def test_parameter_names_match_the_docs(operations):
    documented = {normalise(p): p for p in API_ROUTES}
    for method, path in operations:
        if normalise(path) in documented:
            assert path == documented[normalise(path)], f"{method} {path} vs docs/api.md"


def test_every_operation_has_a_unique_operation_id(operations):
    ids = {}
    for key, (operation, _) in operations.items():
        operation_id = operation.get("operationId")
        assert isinstance(operation_id, str) and operation_id, f"{key} has no operationId"
        assert operation_id not in ids, f"{operation_id} used by {ids.get(operation_id)} and {key}"
        ids[operation_id] = key
        assert isinstance(operation.get("responses"), dict) and operation["responses"], key


def test_users_create_operation_id(operations):
    assert operations[("POST", "/api/v1/users")][0]["operationId"] == "users.create"


def parameters(operation, item):
    return list(item.get("parameters", [])) + list(operation.get("parameters", []))


def test_path_parameters_are_declared(operations):
    for (method, path), (operation, item) in operations.items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        declared = {p["name"]: p for p in parameters(operation, item)
                    if isinstance(p, dict) and p.get("in") == "path"}
        assert set(declared) == names, f"{method} {path}: path parameters {sorted(declared)}"
        for parameter in declared.values():
            assert parameter.get("required") is True, f"{method} {path}: {parameter}"


def test_paged_lists_declare_limit_and_cursor(operations):
    for key in PAGED:
        operation, item = operations[key]
        query = {p["name"]: p for p in parameters(operation, item)
                 if isinstance(p, dict) and p.get("in") == "query"}
        assert {"limit", "cursor"} <= set(query), f"{key}: {sorted(query)}"
        limit = query["limit"]["schema"]
        assert limit.get("type") == "integer", limit
        assert (limit.get("minimum"), limit.get("maximum"), limit.get("default")) == \
            (1, 1000, 50), limit


def body_schema(document, operation):
    content = operation["requestBody"]["content"]
    assert "application/json" in content, content
    schema = content["application/json"]["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def test_users_create_body_schema(document, operations):
    schema = body_schema(document, operations[("POST", "/api/v1/users")][0])
    assert schema.get("type") == "object"
    assert schema.get("additionalProperties") is False, "unknown fields are refused"
    assert set(schema.get("required", [])) == {"name", "password"}, schema
    props = schema["properties"]
    assert set(props) == {"name", "password", "is_admin"}, props
    assert (props["name"].get("minLength"), props["name"].get("maxLength")) == (3, 64)
    assert re.fullmatch(props["name"]["pattern"], "ada") and \
        not re.fullmatch(props["name"]["pattern"], "1ada")
    assert (props["password"].get("minLength"), props["password"].get("maxLength")) == (8, 1024)
    assert props["is_admin"].get("type") == "boolean"


def test_every_body_forbids_unknown_fields(document, operations):
    for key, (operation, _) in operations.items():
        if "requestBody" in operation:
            schema = body_schema(document, operation)
            assert schema.get("additionalProperties") is False, f"{key}: {schema}"


def test_api_key_create_body_schema(document, operations):
    schema = body_schema(document, operations[("POST", "/api/v1/projects/{id}/api-keys")][0])
    props = schema["properties"]
    assert set(props) == {"name", "role", "expires_in_s"}, props
    assert set(props["role"].get("enum", [])) == {"member", "project-admin"}, props["role"]
    assert props["expires_in_s"].get("minimum") == 60, props["expires_in_s"]
    assert 315_360_000 <= props["expires_in_s"].get("maximum", 0) <= 316_224_000, \
        f"about 10 years: {props['expires_in_s']}"


def test_security_schemes(document):
    schemes = document.get("components", {}).get("securitySchemes", {})
    kinds = {(s.get("type"), s.get("scheme", s.get("name"))) for s in schemes.values()}
    assert ("http", "bearer") in {(t, (n or "").lower()) for t, n in kinds}, schemes
    assert ("apiKey", "X-API-Key") in kinds, schemes


def test_document_is_served_as_json(module_server):
    reply = module_server.request("GET", "/api/v1/openapi.json")
    assert reply.status == 200 and reply.content_type == "application/json", reply


def test_docs_page_is_html(module_server):
    reply = module_server.request("GET", "/api/docs")
    assert reply.status == 200, reply
    assert reply.content_type == "text/html", reply
    text = reply.body.decode("utf-8")
    assert "<html" in text.lower() and "</html>" in text.lower(), text[:200]
    assert "/api/v1/openapi.json" in text, "the page loads the generated document"


def test_documented_limits_are_enforced(module_server, document, operations):
    """The document and the validator come from one declaration: a name one longer than the
    documented maxLength is refused, one of exactly maxLength is accepted."""
    schema = body_schema(document, operations[("POST", "/api/v1/projects")][0])
    longest = schema["properties"]["name"]["maxLength"]
    token = module_server.admin_token()
    ok = module_server.request("POST", "/api/v1/projects", json={"name": "p" * longest},
                               token=token)
    assert ok.status == 201, ok
    too_long = module_server.request("POST", "/api/v1/projects",
                                     json={"name": "q" * (longest + 1)}, token=token)
    assert too_long.status == 400, too_long
