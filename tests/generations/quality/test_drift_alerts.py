"""Site admins hear of a quality drop once, soon after the week it happened in ends."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import tasks
from generations.models import Membership, Notification, Role
from generations.quality.drift import drift_alerts_send, week_start
from tests.support.factories import ProjectFactory, UserFactory
from tests.support.quality import add_drift_series

pytestmark = pytest.mark.django_db

W1 = dt.date(2026, 6, 1)  # a Monday: ISO week 2026-W23; add_drift_series' week 5 is W27


def monday_after(week: int) -> dt.date:
    return W1 + dt.timedelta(weeks=week)


@pytest.fixture(autouse=True)
def _thresholds(settings):
    settings.STUDIO_DRIFT_DROP = 0.25
    settings.STUDIO_DRIFT_BASELINE_WEEKS = 4
    settings.STUDIO_DRIFT_MIN_SAMPLES = 5


@pytest.fixture
def people(project):
    site_admin = UserFactory(username="stella", is_staff=True)
    project_admin = UserFactory(username="pat")
    Membership.objects.create(project=project, user=project_admin, role=Role.ADMIN)
    gone = UserFactory(username="old", is_staff=True, is_active=False)
    return site_admin, project_admin, gone


def drift_notes(user) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user, kind=Notification.Kind.QUALITY_DRIFT)
        .order_by("pk")
        .values_list("text", flat=True)
    )


def test_a_drop_in_the_week_just_ended_reaches_site_admins_once(project, people):
    site_admin, project_admin, gone = people
    # The images are of a project nobody here belongs to: the system judges every project.
    add_drift_series(ProjectFactory(slug="other"), W1)

    assert drift_alerts_send(today=monday_after(5) + dt.timedelta(days=2)) == 2

    assert drift_notes(site_admin) == [
        "Quality drift: nano-banana-pro 4K, bytes per pixel in 2026-W27: "
        "−31 % vs baseline 0.42 → 0.29 (n=6).",
        "Quality drift: nano-banana-pro 4K, detail energy in 2026-W27: "
        "−35 % vs baseline 20.0 → 13.0 (n=6).",
    ]
    assert drift_notes(project_admin) == drift_notes(gone) == []
    # Beat runs it again the same week: nobody hears twice.
    assert drift_alerts_send(today=monday_after(5) + dt.timedelta(days=3)) == 0
    assert len(drift_notes(site_admin)) == 2


def test_the_week_still_filling_up_is_not_judged_and_each_week_is_told_on_its_own(project, people):
    site_admin, _, _ = people
    add_drift_series(project, W1)
    # During week 5 itself its drop is not yet told: the week is not over.
    assert drift_alerts_send(today=monday_after(4) + dt.timedelta(days=6)) == 0
    # Week 6: nano-banana-2 2K falls 26 % below its baseline; the 4K recovered.
    assert drift_alerts_send(today=monday_after(6)) == 1
    assert drift_notes(site_admin) == [
        "Quality drift: nano-banana-2 2K, bytes per pixel in 2026-W28: "
        "−26 % vs baseline 1.00 → 0.74 (n=5)."
    ]


def test_no_drop_no_notification(project, people):
    site_admin, _, _ = people
    add_drift_series(project, W1)
    assert drift_alerts_send(today=monday_after(3)) == 0
    assert drift_notes(site_admin) == []


def test_opening_the_notification_leads_to_the_quality_report(client, project, people):
    site_admin, _, _ = people
    add_drift_series(project, W1)
    drift_alerts_send(today=monday_after(5))
    note = Notification.objects.filter(recipient=site_admin).first()
    client.force_login(site_admin)

    response = client.post(reverse("notification_open", args=[note.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("quality_drift")
    note.refresh_from_db()
    assert note.read_at is not None


def test_beat_runs_the_alerts_task_which_judges_the_week_just_ended(project, people, settings):
    site_admin, _, _ = people
    this_monday = week_start(timezone.localdate())
    add_drift_series(project, this_monday - dt.timedelta(weeks=5))  # its week 5 just ended
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks.drift_alerts.name in scheduled

    tasks.drift_alerts.apply()

    assert len(drift_notes(site_admin)) == 2
