"""One way to write money: to the cent for people (half up, a real minus sign, thousands
separators), four decimals where exactness is the point, and the template filter."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from generations.spend.money import money, to_cents


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("0.64"), "$0.64"),
        (Decimal("0.134"), "$0.13"),
        (Decimal("49.732"), "$49.73"),
        (Decimal("3.668"), "$3.67"),
        (Decimal("0.5"), "$0.50"),
        (0, "$0.00"),
        (7, "$7.00"),
    ],
)
def test_people_read_an_amount_to_the_cent(amount, text):
    assert money(amount) == text


def test_half_a_cent_rounds_up_away_from_zero():
    assert money(Decimal("0.005")) == "$0.01"
    assert money(Decimal("0.0049")) == "$0.00"
    assert money(Decimal("0.125")) == "$0.13", "half up, not to the even cent"
    assert money(Decimal("-0.005")) == "−$0.01"
    assert to_cents(Decimal("2.675")) == Decimal("2.68")


def test_a_negative_amount_has_a_real_minus_sign_before_the_dollar():
    assert money(Decimal("-0.668")) == "\u2212$0.67"
    assert money(Decimal("-1234.5")) == "−$1,234.50"


def test_what_rounds_to_zero_has_no_sign():
    assert money(Decimal("-0.004")) == "$0.00"


def test_large_amounts_have_thousands_separators():
    assert money(Decimal("1234.5")) == "$1,234.50"
    assert money(Decimal("1234567.891")) == "$1,234,567.89"


def test_exact_figures_keep_the_four_decimals_stored():
    assert money(Decimal("0.134"), exact=True) == "$0.1340"
    assert money(Decimal("-0.00005"), exact=True) == "−$0.0001"
    assert money(Decimal("12345.6789"), exact=True) == "$12,345.6789"


def test_a_float_is_read_as_written_not_as_its_binary_value():
    assert money(0.134, exact=True) == "$0.1340"
    assert money(1.005) == "$1.01"  # the float 1.005 is 1.00499999…


def _render(source: str, **context: object) -> str:
    return Template("{% load money_ui %}" + source).render(Context(context))


def test_the_template_filter_writes_the_same_text():
    assert _render("{{ a|money }}", a=Decimal("-0.668")) == "−$0.67"
    assert _render("{{ a|money }}", a=Decimal("1234.5")) == "$1,234.50"
    assert _render("{{ a|money_exact }}", a=Decimal("0.134")) == "$0.1340"


def test_no_amount_is_a_dash_or_what_the_template_says_it_means():
    assert _render("{{ a|money }}", a=None) == "—"
    assert _render('{{ a|money:"price unknown" }}', a=None) == "price unknown"
    assert _render("{{ a|money_exact }}", a=None) == "—"
