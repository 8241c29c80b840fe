import pytest

from accounts.sessions import SessionStore


@pytest.mark.parametrize("key", ["abcdefgh", "0123456789abcdefghijklmnopqrstuv", "ABCdef123456"])
def test_keys_django_could_have_issued_are_kept(key: str) -> None:
    assert SessionStore(key).session_key == key


@pytest.mark.parametrize("key", ["abc\x00defghijkl", "abcdefg", "../../etc/passwd", "é" * 32, "abcd efgh", "", None])
def test_impossible_keys_are_no_session(key: str | None) -> None:
    assert SessionStore(key).session_key is None
