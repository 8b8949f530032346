"""Every operation the server declares (its OpenAPI document) has an SDK method, so a route
added to the server without one fails here."""
import inspect

import tendril

# operationId -> the SDK method (group.method on a Client) that performs it.
OPERATIONS = {
    "auth.login": "auth.login", "auth.logout": "auth.logout", "auth.password":
    "auth.change_password", "auth.refresh": "auth.refresh", "auth.switch": "auth.switch",
    "auth.whoami": "auth.whoami",
    "users.create": "users.create", "users.list": "users.list", "users.get": "users.get",
    "users.update": "users.update", "users.delete": "users.delete",
    "users.projects": "users.projects",
    "projects.create": "projects.create", "projects.list": "projects.list",
    "projects.get": "projects.get", "projects.delete": "projects.delete",
    "projects.members.list": "projects.members", "projects.members.put": "projects.set_member",
    "projects.members.delete": "projects.remove_member", "projects.quota": "projects.quota",
    "projects.quota_set": "projects.set_quota",
    "apikeys.create": "api_keys.create", "apikeys.list": "api_keys.list",
    "apikeys.revoke": "api_keys.revoke",
    "audit.list": "logs.audit", "errors.list": "logs.errors", "events.stream": "events",
    "system.docs": "system.docs_html", "system.openapi": "system.openapi",
    "system.version": "system.version", "system.healthz": "system.health",
    "system.readyz": "system.ready", "system.metrics": "system.metrics",
    "system.policy.reload": "system.reload_policy", "system.host": "system.host",
    "templates.check": "clusters.check_template",
    "clusters.create": "clusters.create", "clusters.list": "clusters.list",
    "clusters.get": "clusters.get", "clusters.update": "clusters.rename",
    "clusters.delete": "clusters.delete", "clusters.template": "clusters.template",
    "clusters.restore": "clusters.restore", "clusters.direct": "clusters.direct",
    "datasets.create": "datasets.create", "datasets.list": "datasets.list",
    "datasets.get": "datasets.get", "datasets.delete": "datasets.delete",
    "datasets.download": "datasets.download", "datasets.finalize": "datasets.finalize",
    "datasets.parts.get": "datasets.part", "datasets.parts.put": "datasets.put_chunk",
    "datasets.upload": "datasets.upload",
    "tasks.create": "tasks.create", "tasks.list": "tasks.list", "tasks.get": "tasks.get",
    "tasks.cancel": "tasks.cancel", "tasks.delete": "tasks.delete",
    "tasks.events": "tasks.events",
    "results.list": "results.list", "results.get": "results.get",
    "results.outputs": "results.outputs", "results.download": "results.download",
    "results.accuracy": "results.accuracy", "results.delete": "results.delete",
    "checkpoints.create": "checkpoints.create", "checkpoints.list": "checkpoints.list",
    "checkpoints.get": "checkpoints.get", "checkpoints.delete": "checkpoints.delete",
    "checkpoints.download": "checkpoints.download", "checkpoints.upload":
    "checkpoints.create_upload", "checkpoints.data": "checkpoints.put_data",
    "checkpoints.finalize": "checkpoints.finalize",
}


def resolve(client, dotted):
    target = client
    for name in dotted.split("."):
        target = getattr(target, name)
    return target


def test_every_declared_operation_has_a_documented_sdk_method(server):
    client = tendril.Client(server.url)
    declared = {operation["operationId"] for path in client.system.openapi()["paths"].values()
                for method, operation in path.items() if isinstance(operation, dict)
                and "operationId" in operation}
    assert declared == set(OPERATIONS), (f"without an SDK method: {declared - set(OPERATIONS)}; "
                                         f"gone from the server: {set(OPERATIONS) - declared}")
    for operation, dotted in OPERATIONS.items():
        assert callable(resolve(client, dotted)), f"{dotted} ({operation})"


def public_methods():
    classes = [tendril.Client, tendril.Task, tendril.DirectSession, tendril.EventStream]
    client = tendril.Client("http://127.0.0.1:1")
    classes += [type(group) for group in vars(client).values() if hasattr(group, "_client")]
    for cls in classes:
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                yield f"{cls.__name__}.{name}", member


def test_every_public_method_has_a_docstring_and_type_hints():
    missing = []
    for label, function in public_methods():
        if not inspect.getdoc(function):
            missing.append(f"{label}: no docstring")
        signature = inspect.signature(function)
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{label}: parameter {parameter.name} has no type")
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{label}: no return type")
    assert not missing, "\n".join(missing)
