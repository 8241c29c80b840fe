import datetime as dt
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from util.renderers import JSONRenderer, OrjsonRenderer

VALUES = [
    None,
    {},
    [],
    {"count": 0, "next": None, "previous": None, "results": []},
    {"a": 1, "b": [True, False, None], "c": {"nested": "value"}},
    ("tuple", 1),
    "plain ascii",
    'quotes " and backslash \\ and control \x01 \n \t',
    "non-ASCII é 温度 🚧",
    "line separators \u2028 and \u2029",
    -(2**63),
    2**63 - 1,
    2**64,
    dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    dt.datetime(2025, 1, 1, 12, 30, 5, 120, tzinfo=dt.UTC),
    dt.datetime(2025, 1, 1, 12, 30, 5, 999999, tzinfo=dt.timezone(dt.timedelta(0))),
    dt.datetime(2025, 1, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.datetime(2025, 1, 1, 12, 30, 5, 1),
    dt.date(2025, 1, 31),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("1.50"),
    gettext_lazy("lazy text"),
    {"detail": ErrorDetail("page: expected an integer >= 1, got '0'.", code="invalid")},
    {1: "non-string key"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_renders_the_same_bytes_as_drf(value: object) -> None:
    assert OrjsonRenderer().render(value) == DRFJSONRenderer().render(value)


@pytest.mark.parametrize("media_type", ["application/json; indent=4", "application/json; indent=0"])
def test_indented_output_is_drf_own(media_type: str) -> None:
    value = {"results": [{"id": 1, "created": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}]}
    assert OrjsonRenderer().render(value, media_type) == DRFJSONRenderer().render(value, media_type)


def test_a_value_drf_refuses_is_refused_the_same_way() -> None:
    with pytest.raises(ValueError, match="timezone-aware times"):
        DRFJSONRenderer().render(dt.time(12, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="timezone-aware times"):
        OrjsonRenderer().render(dt.time(12, tzinfo=dt.UTC))


def test_text_is_rendered_as_utf8_unescaped() -> None:
    assert JSONRenderer().render({"detail": "café 🚧"}) == '{"detail":"café 🚧"}'.encode()


def test_lone_surrogates_are_rendered_as_json_escapes_instead_of_failing() -> None:
    rendered = JSONRenderer().render({"detail": "Unknown field(s): \ud800."})
    assert rendered == b'{"detail":"Unknown field(s): \\ud800."}'
    assert json.loads(rendered) == {"detail": "Unknown field(s): \ud800."}


def test_lone_surrogates_fall_back_to_json_escapes_in_the_fast_renderer_too() -> None:
    assert OrjsonRenderer().render({"detail": "bad \ud800"}) == b'{"detail":"bad \\ud800"}'
