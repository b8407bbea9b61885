"""The SVG chart helpers both charts are laid out with (quality drift lines, spend bars):
pure geometry, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations.charts import Frame, label_step, labelled, line_paths, nice_ceiling, path_data

FRAME = Frame(760, 260, left=56, right=8, top=8, bottom=28)


def test_a_frame_is_the_viewbox_less_its_margins():
    assert (FRAME.plot_width, FRAME.plot_height) == (696, 224)
    assert (FRAME.plot_right, FRAME.baseline) == (752, 232)


def test_values_scale_from_the_baseline_up_to_the_top_of_the_plot():
    assert FRAME.y_of(0) == 232
    assert FRAME.y_of(1) == 8
    assert FRAME.y_of(0.5) == 120


def test_points_spread_from_edge_to_edge_and_one_point_sits_in_the_middle():
    assert [FRAME.x_of(i, 3) for i in range(3)] == [56, 404, 752]
    assert FRAME.x_of(0, 1) == 404


def test_bars_fill_their_slot_centred_within_a_width_range():
    x, width = FRAME.band(0, 100)  # a slot of 6.96: 72 % of it
    assert width == pytest.approx(5.0112) and x == pytest.approx(56 + (6.96 - 5.0112) / 2)
    assert FRAME.band(0, 1)[1] == 48, "never wider than 48"
    assert FRAME.band(0, 1000)[1] == 2, "never thinner than 2"
    assert FRAME.band(0, 0) == FRAME.band(0, 1), "no bars: one slot"


def test_segments_stack_up_from_the_baseline():
    assert FRAME.stack([0.25, 0.5]) == [(176.0, 56.0), (64.0, 112.0)]
    assert FRAME.stack([]) == []


def test_a_line_breaks_where_a_point_is_missing():
    assert path_data([(1, 2), (3, 4)]) == "M1,2 L3,4"
    assert line_paths([(1, 2), (3, 4), None, None, (5, 6)]) == ["M1,2 L3,4", "M5,6"]
    assert line_paths([None, None]) == []


@pytest.mark.parametrize(("count", "step"), [(0, 1), (1, 1), (8, 1), (9, 2), (16, 2), (17, 3)])
def test_at_most_eight_positions_are_labelled(count, step):
    assert label_step(count) == step
    assert len(labelled(count)) <= 8
    assert list(labelled(count))[:1] == ([0] if count else [])


@pytest.mark.parametrize(
    ("peak", "top"),
    [("0", "1"), ("-3", "1"), ("0.67", "1"), ("1.2", "2"), ("2.1", "2.5"), ("3", "5"),
     ("7", "10"), ("12.5", "20"), ("0.031", "0.05")],
)  # fmt: skip
def test_an_axis_tops_out_at_a_round_figure(peak, top):
    assert nice_ceiling(Decimal(peak)) == Decimal(top)
