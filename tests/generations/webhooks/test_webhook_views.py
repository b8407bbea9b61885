"""The webhooks pages: project admins register endpoints (refused URLs say why), see the
secret and the delivery log, replay, disable and enable; nobody else gets in."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import Notification, WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


def test_only_project_admins_manage_webhooks(client, project, designer, reviewer, outsider):
    url = reverse("webhook_list", args=[project.slug])
    for person, status in ((designer, 403), (reviewer, 403), (outsider, 404)):
        client.force_login(person)
        assert client.get(url).status_code == status
        assert client.post(url, {"url": "http://127.0.0.1/x"}).status_code == status
    assert not WebhookEndpoint.objects.exists()


def test_an_admin_registers_an_endpoint_and_sees_its_secret(
    client, project, project_admin, receiver
):
    client.force_login(project_admin)
    page = client.get(reverse("webhook_list", args=[project.slug])).content.decode()
    assert "No endpoint yet." in page and 'href="/p/acme/webhooks/"' in page
    response = client.post(
        reverse("webhook_list", args=[project.slug]),
        {"url": receiver.url, "description": "CI", "events": ["preview.ready", "final.delivered"]},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["preview.ready", "final.delivered"]
    assert endpoint.secret.startswith("whsec_") and endpoint.created_by == project_admin
    page = response.content.decode()
    assert f'<code id="webhook-secret">{endpoint.secret}</code>' in page
    assert "No deliveries." in page


def test_refused_urls_and_no_events_are_said_at_registration(
    client, project, project_admin, settings
):
    settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS = []
    client.force_login(project_admin)
    response = client.post(
        reverse("webhook_list", args=[project.slug]),
        {"url": "http://169.254.169.254/latest", "events": []},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "169.254.169.254 is a link-local address: webhooks go only to public addresses" in page
    assert "Pick at least one event." in page
    assert not WebhookEndpoint.objects.exists()


def _delivery(endpoint, status=WebhookDelivery.Status.FAILED) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="preview.ready",
        msg_id="msg_abc",
        payload='{"type":"preview.ready"}',
        status=status,
        attempt_count=3,
        last_status_code=500,
        last_response_ms=42,
        last_error="HTTP 500 Internal Server Error",
        created_at=timezone.now(),
    )


def test_the_log_shows_deliveries_and_replays_one(
    client, project, project_admin, endpoint, kicked, django_capture_on_commit_callbacks
):
    row = _delivery(endpoint)
    client.force_login(project_admin)
    url = reverse("webhook", args=[project.slug, endpoint.pk])
    page = client.get(url).content.decode()
    assert f'id="delivery-{row.pk}" data-status="failed"' in page
    assert "HTTP 500 Internal Server Error" in page and "42 ms" in page
    only_ok = client.get(url, {"status": "succeeded"}).content.decode()
    assert f'id="delivery-{row.pk}"' not in only_ok

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("webhook_replay", args=[project.slug, endpoint.pk, row.pk]), follow=True
        )
    assert "Replaying preview.ready msg_abc." in response.content.decode()
    replay = WebhookDelivery.objects.exclude(pk=row.pk).get()
    assert replay.replay_of == row and kicked == [replay.pk]


def test_disable_enable_rotate_and_test_from_the_page(
    client, project, project_admin, endpoint, kicked
):
    client.force_login(project_admin)
    pending = _delivery(endpoint, status=WebhookDelivery.Status.PENDING)
    secret = endpoint.secret

    def act(action: str) -> str:
        url = reverse("webhook_action", args=[project.slug, endpoint.pk, action])
        return client.post(url, follow=True).content.decode()

    assert "Disabled the endpoint" in act("disable")
    endpoint.refresh_from_db()
    pending.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "Disabled by ada."
    assert pending.status == WebhookDelivery.Status.FAILED
    assert "Enable the endpoint first." in act("test")
    assert "Enabled the endpoint" in act("enable")
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failures_in_row == 0
    assert "New signing secret" in act("rotate")
    endpoint.refresh_from_db()
    assert endpoint.secret != secret
    assert "Sent a test event" in act("test")
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event="webhook.test").exists()
    assert "Deleted the endpoint" in act("delete")
    assert not WebhookEndpoint.objects.exists()


def test_the_disabled_notification_leads_to_the_webhooks(client, project, project_admin):
    note = Notification.objects.create(
        recipient=project_admin,
        kind=Notification.Kind.WEBHOOK_DISABLED,
        text="Webhook endpoint … was disabled",
        created_at=timezone.now(),
    )
    client.force_login(project_admin)
    response = client.post(reverse("notification_open", args=[note.pk]), follow=True)
    assert response.redirect_chain[-1][0] == f"/p/{project.slug}/webhooks/"


def test_endpoints_of_other_projects_are_not_found(
    client, project, project_admin, outsider, receiver
):
    other = WebhookEndpoint.objects.create(
        project=outsider.memberships.get().project,
        url=receiver.url,
        events=[WebhookEvent.PREVIEW_READY],
        secret="whsec_x",
        created_at=timezone.now(),
    )
    client.force_login(project_admin)
    assert client.get(reverse("webhook", args=[project.slug, other.pk])).status_code == 404
    url = reverse("webhook_action", args=[project.slug, other.pk, "delete"])
    assert client.post(url).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=other.pk).exists()
