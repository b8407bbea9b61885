"""Quality drift: the detail measure, the weekly medians and drop flags (hand-computed
fixtures, on whichever database the suite runs: SQLite or PostgreSQL), who may see the
report, its chart, its CSV, and the backfill command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageFilter

from generations.imaging.codec import analysis_factor, measure_detail
from generations.models import Image, Membership, Role
from generations.providers.local import render_png
from generations.quality import drift
from generations.quality.drift import DriftThresholds, Point, Status
from tests.support.factories import ProjectFactory, UserFactory
from tests.support.quality import add_drift_series, add_images, around

# --- the detail measure --------------------------------------------------------------------


def detailed(size: int = 1024) -> PILImage.Image:
    """The local provider's picture: shapes, gradients and texture, like a render."""
    png = render_png(
        prompt="a harbour at dawn", seed=7, aspect_ratio="1:1", width=size, height=size
    )
    return PILImage.open(io.BytesIO(png)).convert("RGB")


def noise(size: int = 1024, seed: int = 3) -> PILImage.Image:
    return PILImage.frombytes("RGB", (size, size), random.Random(seed).randbytes(size * size * 3))


def test_a_flat_image_has_no_entropy_and_no_detail():
    flat = PILImage.new("RGB", (2048, 2048), (120, 130, 140))
    assert measure_detail(flat) == (0.0, 0.0)


def test_noise_scores_high_on_both_measures():
    metrics = measure_detail(noise())
    assert metrics.luma_entropy > 7.0  # of at most 8 bits
    assert metrics.detail_energy > 30


def test_a_blurred_copy_scores_clearly_lower_than_the_original():
    original = detailed()
    blurred = original.filter(ImageFilter.GaussianBlur(2))
    sharp, soft = measure_detail(original), measure_detail(blurred)
    assert soft.detail_energy < 0.5 * sharp.detail_energy
    assert sharp.detail_energy > 1


def test_an_upscaled_copy_has_less_detail_than_a_native_render():
    native = detailed(2048)
    upscaled = native.resize((256, 256), PILImage.Resampling.BOX).resize(
        (2048, 2048), PILImage.Resampling.BICUBIC
    )
    assert measure_detail(upscaled).detail_energy < 0.7 * measure_detail(native).detail_energy


def test_posterised_tones_lower_the_entropy():
    original = detailed()
    posterised = original.quantize(8).convert("RGB")
    assert measure_detail(posterised).luma_entropy < measure_detail(original).luma_entropy - 2


def test_the_measure_is_deterministic():
    image = detailed()
    assert measure_detail(image) == measure_detail(image.copy()) == measure_detail(image)


@pytest.mark.parametrize(
    ("size", "factor"),
    [((4096, 4096), 4), ((5504, 3072), 4), ((5056, 3392), 4), ((2752, 1536), 2), ((1024, 1024), 1)],
)
def test_every_aspect_ratio_of_one_size_is_analysed_at_the_same_scale(size, factor):
    assert analysis_factor(*size) == factor


def test_other_modes_are_measured_like_their_rgb():
    image = detailed(512)
    rgb = measure_detail(image)
    assert measure_detail(image.convert("RGBA")) == rgb
    assert measure_detail(image.convert("L")) == rgb
    palette = measure_detail(image.quantize(256))
    assert palette.detail_energy == pytest.approx(rgb.detail_energy, rel=0.25)


def test_a_tiny_image_does_not_break_the_measure():
    assert measure_detail(PILImage.new("RGB", (2, 1), (0, 0, 0))) == (0.0, 0.0)


# --- the weekly series and flags -----------------------------------------------------------

W1 = dt.date(2026, 6, 1)  # a Monday: ISO week 2026-W23


def week(n: int) -> dt.date:
    return W1 + dt.timedelta(weeks=n - 1)


@pytest.fixture
def drift_images(project):
    add_drift_series(project, W1)


@pytest.fixture
def staff(db):
    return UserFactory(username="stella", is_staff=True)


THRESHOLDS = DriftThresholds(drop=0.25, baseline_weeks=4, min_samples=5)


def report_of(user, **kwargs) -> drift.DriftReport:
    return drift.drift_report(
        user=user, start=week(1), end=week(6), thresholds=THRESHOLDS, **kwargs
    )


def series_of(report: drift.DriftReport, model_key: str, size: str) -> drift.Series:
    return next(s for s in report.series if (s.model_key, s.size) == (model_key, size))


def column(series: drift.Series, metric: str) -> list[Point]:
    return [w.points[metric] for w in series.weeks]


def test_weekly_medians_per_model_and_size(drift_images, staff):
    report = report_of(staff)
    assert [(s.model_key, s.size) for s in report.series] == [
        ("nano-banana-2", "2K"),
        ("nano-banana-pro", "1K"),
        ("nano-banana-pro", "4K"),
    ]
    pro = series_of(report, "nano-banana-pro", "4K")
    assert [w.start for w in pro.weeks] == [week(n) for n in range(1, 7)]
    assert [w.label for w in pro.weeks][0] == "2026-W23"
    bpp = column(pro, "bytes_per_pixel")
    # Week 5: six native images (the upscaled ones left out), median between 0.29 and 0.30.
    assert [p.median for p in bpp] == pytest.approx([0.42, 0.44, 0.40, 0.43, 0.295, 0.34])
    assert [p.n for p in bpp] == [5, 5, 5, 5, 6, 5]
    energy = column(pro, "detail_energy")
    assert [p.median for p in energy] == pytest.approx([20, 20, 20, 20, 13, 20])
    # Unmeasured images are left out of that metric only.
    entropy = column(pro, "luma_entropy")
    assert [p.n for p in entropy] == [3, 5, 5, 5, 6, 5]


def test_a_30_percent_drop_is_flagged_and_a_smaller_one_is_not(drift_images, staff):
    pro = series_of(report_of(staff), "nano-banana-pro", "4K")
    bpp = column(pro, "bytes_per_pixel")
    assert [p.status for p in bpp] == [
        Status.NOT_ENOUGH_DATA,  # no earlier week
        Status.NOT_ENOUGH_DATA,  # one earlier week: a baseline needs two
        Status.OK,
        Status.OK,
        Status.DROP,
        Status.OK,
    ]
    assert bpp[2].baseline == pytest.approx(0.43)  # median of 0.42 and 0.44
    assert bpp[4].baseline == pytest.approx(0.425)
    assert bpp[4].change == pytest.approx((0.295 - 0.425) / 0.425)
    assert bpp[5].baseline == pytest.approx(0.415)  # weeks 2–5, the drop included
    assert bpp[5].change == pytest.approx((0.34 - 0.415) / 0.415)  # −18 %
    assert [w.label for w in pro.flagged("bytes_per_pixel")] == ["2026-W27"]
    assert [w.label for w in pro.flagged("detail_energy")] == ["2026-W27"]
    # Week 1's entropy has three measured images: not judged, and no baseline for week 3.
    entropy = column(pro, "luma_entropy")
    assert [p.status for p in entropy][:4] == [Status.NOT_ENOUGH_DATA] * 3 + [Status.OK]


def test_a_20_percent_dip_is_not_flagged_but_26_percent_is(drift_images, staff):
    flash = series_of(report_of(staff), "nano-banana-2", "2K")
    bpp = column(flash, "bytes_per_pixel")
    assert bpp[4].change == pytest.approx(-0.20)
    assert bpp[4].status == Status.OK
    assert bpp[5].change == pytest.approx(-0.26)
    assert bpp[5].status == Status.DROP
    # No detail measures were recorded: nothing to show, nothing judged.
    assert {(p.median, p.n, p.status) for p in column(flash, "detail_energy")} == {
        (None, 0, Status.NOT_ENOUGH_DATA)
    }


def test_a_series_with_too_few_samples_is_never_judged(drift_images, staff):
    small = series_of(report_of(staff), "nano-banana-pro", "1K")
    bpp = column(small, "bytes_per_pixel")
    assert [p.median for p in bpp] == pytest.approx([0.5, 0.5, 0.5, 0.5, 0.1, 0.1])
    assert {p.status for p in bpp} == {Status.NOT_ENOUGH_DATA}
    assert small.flagged("bytes_per_pixel") == []


def test_the_baseline_reaches_back_before_the_range_shown(drift_images, staff):
    report = drift.drift_report(user=staff, start=week(5), end=week(6), thresholds=THRESHOLDS)
    pro = series_of(report, "nano-banana-pro", "4K")
    assert [w.label for w in pro.weeks] == ["2026-W27", "2026-W28"]
    assert [p.status for p in column(pro, "bytes_per_pixel")] == [Status.DROP, Status.OK]


def test_a_week_with_no_images_leaves_a_gap_and_still_counts_as_a_calendar_week(project, staff):
    for n in (1, 2):
        add_images(project, "nano-banana-pro", "4K", week(n), around(1.0))
    # Weeks 3–6 empty: week 7's window (weeks 3–6) holds nothing to compare with.
    add_images(project, "nano-banana-pro", "4K", week(7), around(0.5))
    report = drift.drift_report(user=staff, start=week(1), end=week(7), thresholds=THRESHOLDS)
    points = column(report.series[0], "bytes_per_pixel")
    assert [p.n for p in points] == [5, 5, 0, 0, 0, 0, 5]
    assert points[6].status == Status.NOT_ENOUGH_DATA


def test_weeks_follow_the_configured_time_zone(project, staff, settings):
    settings.TIME_ZONE = "America/New_York"
    # Sunday 22:00 in New York is Monday 02:00 UTC: still the week before.
    sunday_night = add_images(project, "nano-banana-pro", "4K", week(1), [0.3], hour=10)
    Image.objects.filter(pk=sunday_night[0].pk).update(
        created_at=dt.datetime(2026, 6, 8, 2, 0, tzinfo=dt.UTC)
    )
    monday = add_images(project, "nano-banana-pro", "4K", week(1), [0.6], hour=10)
    Image.objects.filter(pk=monday[0].pk).update(
        created_at=dt.datetime(2026, 6, 8, 5, 0, tzinfo=dt.UTC)
    )
    report = drift.drift_report(user=staff, start=week(1), end=week(2), thresholds=THRESHOLDS)
    points = column(report.series[0], "bytes_per_pixel")
    assert [(p.median, p.n) for p in points] == [(0.3, 1), (0.6, 1)]


def test_the_range_defaults_to_the_last_26_weeks(project, staff):
    today = timezone.localdate()
    add_images(project, "nano-banana-pro", "4K", drift.week_start(today), [0.5])
    add_images(
        project, "nano-banana-pro", "4K", drift.week_start(today) - dt.timedelta(weeks=26), [0.9]
    )
    report = drift.drift_report(user=staff, thresholds=THRESHOLDS)
    assert len(report.series[0].weeks) == 26
    assert [p.median for p in column(report.series[0], "bytes_per_pixel") if p.n] == [0.5]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares PostgreSQL with Python")
def test_the_database_medians_match_the_python_medians(drift_images, staff):
    images = drift._images(user=staff, projects=None)
    in_database, in_python = drift._cells_in_database(images), drift._cells_in_python(images)
    assert in_database.keys() == in_python.keys()
    assert len(in_database) == 6 * 3
    for cell, metrics in in_python.items():
        for key, (median, n) in metrics.items():
            assert in_database[cell][key][1] == n, (cell, key)
            assert in_database[cell][key][0] == pytest.approx(median), (cell, key)


def test_a_project_admin_sees_only_their_projects_images(drift_images, project_admin, staff):
    elsewhere = ProjectFactory(name="Elsewhere", slug="elsewhere")
    add_images(elsewhere, "other-model", "4K", week(3), [1.0] * 5)
    # Their images of the same series must not shift the admin's medians either.
    add_images(elsewhere, "nano-banana-pro", "4K", week(1), [9.0] * 20)
    mine = report_of(project_admin)
    assert "other-model" not in {s.model_key for s in mine.series}
    pro = series_of(mine, "nano-banana-pro", "4K")
    assert pro.weeks[0].points["bytes_per_pixel"].median == pytest.approx(0.42)
    everything = report_of(staff)
    assert "other-model" in {s.model_key for s in everything.series}
    only_elsewhere = report_of(staff, projects=[elsewhere])
    assert {s.model_key for s in only_elsewhere.series} == {"other-model", "nano-banana-pro"}
    # A project the admin cannot see, asked for by name, gives them nothing.
    assert report_of(project_admin, projects=[elsewhere]).series == []


def test_the_change_reads_like_a_person_wrote_it():
    metric = drift.metric_get("bytes_per_pixel")
    point = Point(median=0.29, n=12, baseline=0.42, change=(0.29 - 0.42) / 0.42, status="drop")
    assert drift.describe_point(point, metric) == "−31 % vs baseline 0.42 → 0.29 (n=12)"
    thin = Point(median=0.5, n=3)
    assert drift.describe_point(thin, metric) == "0.50 (n=3), not enough data"


# --- the page, who sees it, its CSV --------------------------------------------------------


def sign_in(client, user):
    client.force_login(user)


def page_url(**params) -> str:
    query = {"date_from": week(1).isoformat(), "date_to": week(6).isoformat(), **params}
    return reverse("quality_drift") + "?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("superuser", 200),
        ("staff", 200),
        ("project_admin", 200),
        ("reviewer", 404),
        ("designer", 404),
        ("outsider", 404),
    ],
)
def test_who_may_open_the_report(client, request, drift_images, who, status):
    user = request.getfixturevalue(who)
    sign_in(client, user)
    assert client.get(page_url()).status_code == status
    assert client.get(reverse("quality_drift_csv")).status_code == status
    home = client.get(reverse("home"), follow=True).content.decode()
    assert (reverse("quality_drift") in home) == (status == 200)


def test_signed_out_people_are_sent_to_sign_in(client, drift_images):
    response = client.get(page_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_admin_of_another_project_sees_none_of_this_one(client, drift_images):
    other = ProjectFactory(name="Elsewhere", slug="elsewhere")
    boss = UserFactory(username="boss")
    Membership.objects.create(project=other, user=boss, role=Role.ADMIN)
    sign_in(client, boss)
    response = client.get(page_url())
    assert response.status_code == 200
    assert "nano-banana-pro" not in response.content.decode()
    # Asking for this project by its slug is refused like any unknown choice.
    refused = client.get(page_url(project="acme"))
    assert refused.status_code == 400
    assert "not one of the available choices" in refused.content.decode()
    assert "nano-banana-pro" not in refused.content.decode()


def test_the_page_charts_each_series_and_lists_the_flagged_week(client, drift_images, staff):
    sign_in(client, staff)
    html = client.get(page_url()).content.decode()
    assert html.count('<svg class="drift-chart"') == 3
    assert "Weekly median bytes per pixel of nano-banana-pro 4K" in html
    assert 'data-flagged-week="2026-W27"' in html  # pro 4K, week 5
    assert 'data-flagged-week="2026-W28"' in html  # nano-banana-2 2K, week 6
    # Baseline 0.425, median 0.295: how the last digit rounds is the float's business.
    assert re.search(r"−31 % vs baseline 0\.4[23] → 0\.(29|30) \(n=6\)", html)
    assert "−26 % vs baseline 1.00 → 0.74 (n=5)" in html


def test_switching_the_metric_redraws_the_report_alone_for_htmx(client, drift_images, staff):
    sign_in(client, staff)
    response = client.get(page_url(metric="detail_energy"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-metric="detail_energy"' in html
    assert "Weekly median detail energy of nano-banana-pro 4K" in html
    assert "−35 % vs baseline 20.0 → 13.0 (n=6)" in html
    assert 'data-flagged-week="2026-W28"' not in html  # nano-banana-2 has no detail figures
    assert html.count("No detail energy recorded for these images") == 2  # and neither has 1K
    assert html.count('<svg class="drift-chart"') == 1


def test_bad_filters_re_render_the_form_with_a_message(client, drift_images, staff):
    sign_in(client, staff)
    response = client.get(page_url(date_from="2026-07-01", date_to="2026-06-01"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "The end of the range comes before its start." in html
    assert 'value="2026-07-01"' in html
    response = client.get(page_url(metric="sharpness"))
    assert response.status_code == 400
    assert "Metric: Select a valid choice. sharpness is not one of" in response.content.decode()


def test_the_csv_holds_every_week_of_every_series(client, drift_images, staff):
    sign_in(client, staff)
    query = f"?date_from={week(1)}&date_to={week(6)}"
    response = client.get(reverse("quality_drift_csv") + query)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 * 6
    drop = next(r for r in rows if r["model_key"] == "nano-banana-pro" and r["size"] == "4K"
                and r["week"] == "2026-W27")  # fmt: skip
    assert float(drop["bytes_per_pixel_median"]) == pytest.approx(0.295)
    assert drop["bytes_per_pixel_n"] == "6"
    assert float(drop["bytes_per_pixel_baseline"]) == pytest.approx(0.425)
    assert drop["bytes_per_pixel_status"] == "drop"
    assert drop["detail_energy_status"] == "drop"
    assert drop["week_start"] == "2026-06-29"


def test_the_csv_of_a_project_admin_leaves_other_projects_out(client, drift_images, project_admin):
    add_images(ProjectFactory(slug="elsewhere"), "other-model", "4K", week(2), [1.0] * 5)
    sign_in(client, project_admin)
    query = f"?date_from={week(1)}&date_to={week(6)}"
    body = b"".join(client.get(reverse("quality_drift_csv") + query).streaming_content)
    assert b"nano-banana-pro" in body
    assert b"other-model" not in body


# --- the backfill command ------------------------------------------------------------------


def store_png(image: Image, picture: PILImage.Image) -> None:
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    image.original.save(f"{image.pk}.png", ContentFile(buffer.getvalue()), save=True)


def test_measure_images_fills_the_missing_measures_from_the_stored_originals(project):
    old, done, upscaled, lost = add_images(project, "nano-banana-pro", "1K", week(1), [0.5] * 4)
    picture = detailed(512)
    for image in (old, done, upscaled):
        store_png(image, picture)
    Image.objects.filter(pk=done.pk).update(luma_entropy=1.0, detail_energy=2.0)
    Image.objects.filter(pk=upscaled.pk).update(native=False)
    # `lost` has no file: reported and skipped, the rest still measured.
    out, err = io.StringIO(), io.StringIO()
    call_command("measure_images", "--batch-size", "2", stdout=out, stderr=err)
    old.refresh_from_db()
    assert (old.luma_entropy, old.detail_energy) == measure_detail(picture)
    done.refresh_from_db()
    assert (done.luma_entropy, done.detail_energy) == (1.0, 2.0)
    upscaled.refresh_from_db()
    assert upscaled.luma_entropy is None
    lost.refresh_from_db()
    assert lost.luma_entropy is None
    assert f"image {lost.pk}" in err.getvalue()
    assert "measured 1, failed 1" in out.getvalue()
    # A second run finds only the one it could not read.
    again = io.StringIO()
    call_command("measure_images", stdout=again, stderr=io.StringIO())
    assert "measured 0, failed 1" in again.getvalue()
    assert default_storage.exists(old.original.name)


def test_measure_images_fills_model_and_size_of_images_stored_before_they_were_recorded(project):
    (image,) = add_images(project, "nano-banana-pro", "4K", week(1), [0.5])
    Image.objects.filter(pk=image.pk).update(model_key="", size="")
    store_png(image, detailed(256))
    call_command("measure_images", stdout=io.StringIO(), stderr=io.StringIO())
    image.refresh_from_db()
    assert (image.model_key, image.size) == ("nano-banana-pro", "4K")  # the final's size
    assert image.detail_energy is not None
