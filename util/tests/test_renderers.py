import json

from util.renderers import JSONRenderer


def test_text_is_rendered_as_utf8_unescaped() -> None:
    assert JSONRenderer().render({"detail": "café 🚧"}) == '{"detail":"café 🚧"}'.encode()


def test_lone_surrogates_are_rendered_as_json_escapes_instead_of_failing() -> None:
    rendered = JSONRenderer().render({"detail": "Unknown field(s): \ud800."})
    assert rendered == b'{"detail":"Unknown field(s): \\ud800."}'
    assert json.loads(rendered) == {"detail": "Unknown field(s): \ud800."}
