"""The history the services record: one record per effective change, in the same transaction as the change."""

from collections.abc import Callable

import pytest

from node.models import Node
from node.services import node_update
from node.tests.helpers import records


@pytest.mark.django_db
class TestNodeHistoryRecording:
    def test_a_failed_update_rolls_back_its_record_too(self, make_node: Callable[..., Node]) -> None:
        node = make_node()
        with pytest.raises(ValueError):
            node_update(node=node, changes={"is_paused": True, "hostname": "x"})
        assert records(node) == []
