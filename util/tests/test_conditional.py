import pytest
from django.test import RequestFactory

from util.conditional import etag_matches, if_match_tags, is_not_modified, make_etag, not_modified


def test_an_etag_is_quoted_opaque_and_depends_on_every_part_in_order() -> None:
    tag = make_etag(("node", 1, "2026-01-01T00:00:00+00:00"))
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
    assert tag == make_etag(("node", 1, "2026-01-01T00:00:00+00:00"))
    assert tag != make_etag(("node", 1, "2026-01-01T00:00:00.000001+00:00"))
    assert make_etag(("a", "b")) != make_etag(("b", "a"))
    # Part boundaries count: ("ab", "c") is not ("a", "bc").
    assert make_etag(("ab", "c")) != make_etag(("a", "bc"))


@pytest.mark.parametrize(
    ("etag", "candidates", "weak", "expected"),
    [
        ('"a"', ['"a"'], False, True),
        ('"a"', ['"b"', '"a"'], False, True),
        ('"a"', ['"b"'], False, False),
        ('"a"', ["*"], False, True),
        ('"a"', ['W/"a"'], False, False),
        ('"a"', ['W/"a"'], True, True),
        ('W/"a"', ['"a"'], True, True),
        ('W/"a"', ['W/"a"'], False, False),
        ('"a"', [], False, False),
        ('"a"', [], True, False),
    ],
)
def test_etags_compare_strongly_for_if_match_and_weakly_for_if_none_match(
    etag: str, candidates: list[str], weak: bool, expected: bool
) -> None:
    assert etag_matches(etag, candidates, weak=weak) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ('"a"', ['"a"']), ('"a", W/"b"', ['"a"', 'W/"b"']), ("*", ["*"]), ("not-a-tag", [])],
)
def test_if_match_tags_are_parsed_from_the_header(header: str | None, expected: list[str] | None) -> None:
    headers = {} if header is None else {"HTTP_IF_MATCH": header}
    assert if_match_tags(RequestFactory().get("/", **headers)) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, False), ('"a"', True), ('W/"a"', True), ('"b", "a"', True), ('"b"', False), ("*", True)],
)
def test_if_none_match_says_whether_the_clients_copy_is_current(header: str | None, expected: bool) -> None:
    headers = {} if header is None else {"HTTP_IF_NONE_MATCH": header}
    assert is_not_modified(RequestFactory().get("/", **headers), '"a"') is expected


def test_not_modified_is_a_304_with_the_etag_and_no_body() -> None:
    response = not_modified('"a"')
    assert (response.status_code, response["ETag"], response.content) == (304, '"a"', b"")
