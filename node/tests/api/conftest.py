"""Fixtures for the API tests."""

import datetime as dt
from collections.abc import Callable

import pytest

from node.models import Node
from node.tests.helpers import ENCODING_T0


@pytest.fixture
def fixture_nodes(make_node: Callable[..., Node]) -> list[Node]:
    """Nodes in every state, with text and times that test the edges of the JSON encoding."""
    return [
        make_node("alpha.example.com", created=ENCODING_T0, last_modified=ENCODING_T0 + dt.timedelta(hours=1)),
        make_node(
            "Bravo.example.com",
            is_paused=True,
            pause_reason='Ventilateur défectueux "rack 7" \\ 温度\u2028next line\u2029 end',
            created=ENCODING_T0 + dt.timedelta(microseconds=1),
            last_modified=ENCODING_T0 + dt.timedelta(hours=2, microseconds=120),
        ),
        make_node(
            "charlie.example.com",
            is_active=False,
            deprecated=ENCODING_T0 + dt.timedelta(days=2, microseconds=999_999),
            created=ENCODING_T0 - dt.timedelta(days=400),
            last_modified=ENCODING_T0 + dt.timedelta(days=2, microseconds=999_999),
        ),
        make_node(
            "delta.example.com",
            is_paused=True,
            pause_reason="emoji 🚧 and tab\t inside",
            is_active=False,
            deprecated=ENCODING_T0,
            created=ENCODING_T0 - dt.timedelta(seconds=1),
            last_modified=ENCODING_T0 + dt.timedelta(hours=2, microseconds=120),
        ),
    ]
