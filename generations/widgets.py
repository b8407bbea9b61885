"""Form widgets shared by the site's forms and the spend domain's filter forms."""

from __future__ import annotations

from django import forms


class DateInput(forms.DateInput):
    """The browser's own date picker."""

    input_type = "date"
