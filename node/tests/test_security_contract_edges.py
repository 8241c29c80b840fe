"""Contract edges: mixed ISO-8601 forms, an empty If-Match, the PATCH body marked required, .schemathesis/ ignored."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from node.models import Node
from node.tests.helpers import body
from util.iso8601 import parse_iso8601_datetime


@pytest.mark.parametrize("value", ["20150101T00:00:00Z", "2015-01-01T000000Z", "20150101T00:00Z"])
def test_a_datetime_mixing_basic_and_extended_formats_is_refused_saying_why(value: str) -> None:
    with pytest.raises(ValueError, match="mixes the basic and the extended ISO-8601 formats"):
        parse_iso8601_datetime(value)


@pytest.mark.parametrize("value", ["2015-01-01T00:00:00Z", "20150101T000000Z", "2015-01-01T00:00:00+02:00"])
def test_a_datetime_in_one_format_is_accepted(value: str) -> None:
    assert parse_iso8601_datetime(value).year in {2014, 2015}


@pytest.mark.django_db
class TestContractEdges:
    def test_the_list_refuses_a_mixed_format_started_with_a_400(self, api_client: APIClient) -> None:
        response = api_client.get("/v6/nodes/", {"started": "20150101T00:00:00Z"})
        assert response.status_code == 400, body(response)
        assert response.json()["detail"].startswith("started: the datetime '20150101T00:00:00Z' mixes the basic")

    @pytest.mark.parametrize("header", ["", "   "])
    def test_an_empty_if_match_is_a_400_and_writes_nothing(
        self, staff_client: APIClient, make_node: Callable[..., Node], header: str
    ) -> None:
        node = make_node()
        response = staff_client.patch(f"/v6/nodes/{node.pk}/", {"is_paused": True}, format="json", HTTP_IF_MATCH=header)
        assert response.status_code == 400, body(response)
        assert "If-Match is empty" in response.json()["detail"]
        node.refresh_from_db()
        assert node.is_paused is False

    def test_the_schema_marks_the_patch_body_required(self, api_client: APIClient) -> None:
        schema = api_client.get("/v6/schema/?format=json").json()
        assert schema["paths"]["/v6/nodes/{id}/"]["patch"]["requestBody"]["required"] is True


def test_schemathesis_output_is_ignored_by_git() -> None:
    ignored = (Path(settings.BASE_DIR) / ".gitignore").read_text().split()
    assert ".schemathesis/" in ignored
