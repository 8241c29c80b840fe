import pytest
from django import forms

from util.filters import Iso8601InstantField, StrictBooleanField


@pytest.mark.parametrize("field_class", [Iso8601InstantField, StrictBooleanField])
@pytest.mark.parametrize("value", ["%", "%s", "%(x)s", "100%"])
def test_error_messages_keep_percent_signs_of_the_value_when_formatted(field_class: type, value: str) -> None:
    with pytest.raises(forms.ValidationError) as error:
        field_class().clean(value)
    (message,) = [e.message % e.params for e in error.value.error_list]
    assert repr(value) in message
