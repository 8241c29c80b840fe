"""The request-target rules of the ASGI handler: NUL characters refused, absolute form made origin form."""

import pytest

from serving.asgi import origin_form
from util.query import nul_character_error


@pytest.mark.parametrize(
    ("path", "query", "detail"),
    [
        ("/v6/nodes/", b"search=%00", "search: contains a NUL character (%00), which no parameter may contain."),
        (
            "/v6/nodes/",
            b"page=1&hostname=a%00b",
            "hostname: contains a NUL character (%00), which no parameter may contain.",
        ),
        ("/v6/nodes/", b"%00=1", "A query parameter's name contains a NUL character (%00), which no name may contain."),
        ("/v6/\x00/", b"", "The URL path contains a NUL character (%00), which no path may contain."),
    ],
)
def test_a_nul_character_is_named_where_it_is(path: str, query: bytes, detail: str) -> None:
    error = nul_character_error(path=path, query_string=query)
    assert error is not None and error["detail"] == detail


@pytest.mark.parametrize("query", [b"", b"search=rack", b"search=%2500", b"search=100%25", b"a=%0"])
def test_targets_without_a_nul_character_pass(query: bytes) -> None:
    assert nul_character_error(path="/v6/nodes/", query_string=query) is None


def scope(path: str, query: bytes = b"") -> dict:
    return {
        "type": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"a")],
    }


def test_an_absolute_form_target_becomes_its_path_and_host() -> None:
    made = origin_form(scope("http://127.0.0.1:8000/v6/nodes/", b"page=2"))
    assert (made["path"], made["raw_path"], made["query_string"]) == ("/v6/nodes/", b"/v6/nodes/", b"page=2")
    assert made["headers"] == [(b"host", b"127.0.0.1:8000")]


def test_an_absolute_form_target_without_a_path_is_the_root() -> None:
    assert origin_form(scope("https://nodes.example.com"))["path"] == "/"


@pytest.mark.parametrize("path", ["/v6/nodes/", "/v6/nodes/http://x/", "ftp://files.example/a", "*"])
def test_other_targets_are_left_as_they_are(path: str) -> None:
    original = scope(path)
    assert origin_form(original) is original
