"""Form widgets shared by the site's forms and the spend domain's filter forms."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker."""

    input_type = "date"


class BoundedDateField(forms.DateField):
    """A date filter within years the app can reason about (2000–2099): 9999-12-31 or
    0001-01-01 parse as dates but overflow the moment a day is added or a time zone
    applied. Out of range is a form error, never a 500."""

    FIRST: ClassVar[dt.date] = dt.date(2000, 1, 1)
    LAST: ClassVar[dt.date] = dt.date(2099, 12, 31)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not self.FIRST <= value <= self.LAST:
            raise forms.ValidationError(
                f"Choose a date from {self.FIRST:%Y} to {self.LAST:%Y}.", code="out_of_range"
            )
