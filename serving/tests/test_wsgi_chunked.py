"""ChunkedBodyMiddleware: a chunked body is read with its length, or refused with a JSON 411; never dropped."""

import io
import json

from serving.wsgi import ChunkedBodyMiddleware


def seen_by_app(environ: dict, start_response: object) -> list[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [])
    return [body]


def call(environ: dict, *, limit: int = 100) -> tuple[str, bytes]:
    answered = {}
    app = ChunkedBodyMiddleware(seen_by_app, max_body_bytes=lambda: limit)
    body = b"".join(app(environ, lambda status, headers: answered.update(status=status)))
    return answered["status"], body


def chunked(body: bytes, **extra: object) -> dict:
    return {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body), **extra}


def test_a_chunked_body_from_a_server_that_decodes_it_reaches_the_app_with_its_length() -> None:
    assert call(chunked(b'{"is_paused": true}', **{"wsgi.input_terminated": True})) == (
        "200 OK",
        b'{"is_paused": true}',
    )


def test_a_chunked_body_the_server_does_not_terminate_is_a_json_411() -> None:
    status, body = call(chunked(b'{"is_paused": true}'))
    assert status == "411 Length Required"
    assert "Content-Length" in json.loads(body)["detail"]


def test_a_chunked_body_over_the_limit_is_a_json_413() -> None:
    status, body = call(chunked(b"x" * 101, **{"wsgi.input_terminated": True}))
    assert status == "413 Request Entity Too Large"
    assert json.loads(body) == {"detail": "Request body too large: at most 100 bytes are accepted."}


def test_a_body_with_a_length_is_left_alone() -> None:
    environ = {"CONTENT_LENGTH": "3", "wsgi.input": io.BytesIO(b"abc")}
    assert call(environ) == ("200 OK", b"abc")
