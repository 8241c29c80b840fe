"""Swagger UI's "Try it out", over real HTTP: every operation of the published schema, requested with the
parameters and body as Swagger UI fills them in (each parameter's first example, else its default), and
with each other example in turn, answers 2xx."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.tokens import create_api_token
from node.models import Node

TIMEOUT_SECONDS = 30
# The node the schema's path examples name (`node 4`).
EXAMPLE_NODE_ID = 4


def _open(url: str, *, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (live server)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _filled_in(parameter: dict) -> list[object]:
    """The values Swagger UI offers for ``parameter``: its examples (the first is filled in), else its default."""
    examples = [example["value"] for example in parameter.get("examples", {}).values()]
    if "example" in parameter:
        examples.insert(0, parameter["example"])
    if not examples and "default" in parameter.get("schema", {}):
        examples = [parameter["schema"]["default"]]
    return examples


def _requests(schema: dict) -> Iterator[tuple[str, str, dict[str, object], bytes | None]]:
    """Each operation as filled in, then once per other example of a parameter or body: (method, path, values, body)."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "patch", "put", "post", "delete"):
                continue
            offered = {
                (parameter["in"], parameter["name"]): values
                for parameter in operation.get("parameters", [])
                if (values := _filled_in(parameter))
            }
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            bodies = [example["value"] for example in content.get("examples", {}).values()]
            filled = {key: values[0] for key, values in offered.items()}
            body = json.dumps(bodies[0]).encode() if bodies else None
            # The event stream never ends (and the test server buffers it whole): HEAD answers with its start.
            if "text/event-stream" in operation["responses"]["200"].get("content", {}):
                method = "head"
            yield method, path, filled, body
            for key, values in offered.items():
                for value in values[1:]:
                    yield method, path, {**filled, key: value}, body
            for other in bodies[1:]:
                yield method, path, filled, json.dumps(other).encode()


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_every_operation_answers_2xx_with_the_schemas_examples_as_swagger_ui_fills_them_in(
    live_server: Any, make_node: Callable[..., Node]
) -> None:
    nodes = [make_node(f"try-{n}.example.com") for n in range(EXAMPLE_NODE_ID)]
    assert nodes[-1].pk == EXAMPLE_NODE_ID
    user = get_user_model().objects.create_user(username="try-op", is_staff=True, is_superuser=True)
    token = create_api_token(user=user, expires_in=None)[1]
    status, content = _open(f"{live_server.url}/v6/schema/?format=json", method="GET", headers={})
    assert status == 200, content
    tried = []
    for method, path, values, body in _requests(json.loads(content)):
        query = [(name, value) for (place, name), value in values.items() if place == "query"]
        headers = {name: str(value) for (place, name), value in values.items() if place == "header"}
        headers |= {"Authorization": f"Token {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = live_server.url + path.format(
            **{name: value for (place, name), value in values.items() if place == "path"}
        )
        if query:
            url += "?" + urllib.parse.urlencode(query)
        status, answer = _open(url, method=method.upper(), headers=headers, body=body)
        assert 200 <= status < 300, (method, url, headers, body, status, answer)
        tried.append((method, path))
    # Every operation, some of them with several examples.
    assert sorted(set(tried)) == [
        ("get", "/v6/nodes/"),
        ("get", "/v6/nodes/changes/"),
        ("get", "/v6/nodes/liveness/"),
        ("get", "/v6/nodes/{id}/"),
        ("get", "/v6/nodes/{id}/history/"),
        ("get", "/v6/nodes/{id}/liveness/"),
        ("head", "/v6/nodes/events/"),
        ("patch", "/v6/nodes/{id}/"),
        ("post", "/v6/nodes/"),
        ("post", "/v6/nodes/heartbeats/"),
    ]
    assert len(tried) > len(set(tried)), tried
