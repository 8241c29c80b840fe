"""The rules of a node's state, as pure functions: no database."""

import datetime as dt

import pytest

from node.services.rules import (
    UPDATABLE_FIELDS,
    apply_changes,
    changed_fields,
    initial_state,
    validate_changes,
)
from util.closed import InvalidObject

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(days=1)
ACTIVE = {"pause_reason": None, "is_paused": False, "is_active": True, "deprecated": None}
PAUSED = {"pause_reason": "disk", "is_paused": True, "is_active": True, "deprecated": None}
INACTIVE = {"pause_reason": None, "is_paused": False, "is_active": False, "deprecated": EARLIER}


class TestValidateChanges:
    def test_the_changeable_fields_are_those_of_the_patch_body(self) -> None:
        assert UPDATABLE_FIELDS == ("pause_reason", "is_paused", "is_active")

    def test_good_changes_come_back_cleaned(self) -> None:
        assert validate_changes({"is_paused": True, "pause_reason": "  disk  "}) == {
            "pause_reason": "disk",
            "is_paused": True,
        }

    @pytest.mark.parametrize(
        ("changes", "errors"),
        [
            ({}, {"non_field_errors": ["Give at least one of pause_reason, is_paused, is_active."]}),
            (
                {"hostname": "x"},
                {
                    "non_field_errors": [
                        "Unknown field(s): hostname. Only pause_reason, is_paused, is_active can be changed."
                    ]
                },
            ),
            ({"is_paused": "true"}, {"is_paused": ["Must be a JSON boolean (true or false)."]}),
            ({"is_active": None}, {"is_active": ["This field may not be null."]}),
            ({"pause_reason": 3}, {"pause_reason": ["Not a valid string."]}),
            ({"pause_reason": "r" * 251}, {"pause_reason": ["Ensure this field has no more than 250 characters."]}),
        ],
    )
    def test_bad_changes_are_refused_naming_the_field(self, changes: dict, errors: dict) -> None:
        with pytest.raises(InvalidObject) as raised:
            validate_changes(changes)
        assert raised.value.errors == errors

    def test_a_refusal_is_a_value_error_for_every_caller(self) -> None:
        with pytest.raises(ValueError, match=r"^is_paused: Must be a JSON boolean \(true or false\)\.$"):
            validate_changes({"is_paused": 1})


class TestApplyChanges:
    def test_resuming_clears_the_reason(self) -> None:
        assert apply_changes(PAUSED, {"is_paused": False}, now=NOW) == ACTIVE

    def test_a_reason_for_a_node_that_stays_unpaused_is_not_stored(self) -> None:
        assert apply_changes(ACTIVE, {"pause_reason": "why"}, now=NOW) == ACTIVE

    @pytest.mark.parametrize("reason", ["", "   ", None])
    def test_a_blank_reason_is_stored_as_null(self, reason: str | None) -> None:
        assert apply_changes(ACTIVE, {"is_paused": True, "pause_reason": reason}, now=NOW)["pause_reason"] is None

    def test_deactivating_sets_deprecated_to_the_time_of_the_change(self) -> None:
        assert apply_changes(ACTIVE, {"is_active": False}, now=NOW) == {**ACTIVE, "is_active": False, "deprecated": NOW}

    def test_reactivating_clears_deprecated(self) -> None:
        assert apply_changes(INACTIVE, {"is_active": True}, now=NOW) == ACTIVE

    def test_deactivating_an_inactive_node_keeps_its_deprecated(self) -> None:
        assert apply_changes(INACTIVE, {"is_active": False}, now=NOW) == INACTIVE

    def test_the_given_state_is_not_changed(self) -> None:
        state = dict(PAUSED)
        apply_changes(state, {"is_paused": False}, now=NOW)
        assert state == PAUSED

    def test_a_new_node_is_active_and_running_unless_its_changes_say_otherwise(self) -> None:
        assert initial_state({}, now=NOW) == ACTIVE
        assert initial_state({"is_active": False, "is_paused": True, "pause_reason": "r"}, now=NOW) == {
            "pause_reason": "r",
            "is_paused": True,
            "is_active": False,
            "deprecated": NOW,
        }

    def test_changed_fields_are_those_whose_values_differ(self) -> None:
        assert changed_fields(PAUSED, ACTIVE) == {"pause_reason": ("disk", None), "is_paused": (True, False)}
        assert changed_fields(ACTIVE, ACTIVE) == {}
