"""Where webhooks may go: only public addresses unless a setting allows a network, checked
on every address a name resolves to, and connected to the address that was checked.

Only the refusal logic is tested for non-loopback addresses: no traffic ever leaves
loopback (the resolver is replaced, and a refused delivery must not even connect)."""

from __future__ import annotations

import httpx
import pytest
from django.utils import timezone

from generations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from generations.webhooks import delivery, network
from generations.webhooks.signing import secret_new

pytestmark = pytest.mark.django_db

REFUSED = [
    ("127.0.0.1", "a loopback"),
    ("127.9.9.9", "a loopback"),
    ("::1", "a loopback"),
    ("10.0.0.5", "a private"),
    ("10.255.1.2", "a private"),
    ("172.16.3.4", "a private"),
    ("192.168.1.10", "a private"),
    ("fd00::1", "a private"),
    ("169.254.169.254", "a link-local"),  # the cloud metadata service
    ("fe80::1", "a link-local"),
    ("::ffff:10.0.0.1", "a private"),  # IPv4-mapped IPv6 is judged as the IPv4
    ("::ffff:169.254.169.254", "a link-local"),
    ("100.64.0.1", "a reserved (non-public)"),  # carrier-grade NAT
    ("0.0.0.0", "a private"),  # noqa: S104 - an address to refuse, not one to bind
    ("224.0.0.1", "a multicast"),
]


@pytest.fixture
def no_allowed_networks(settings):
    settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_non_public_addresses_are_refused(no_allowed_networks, address, kind):
    why = network.address_refusal(address)
    assert why is not None
    assert f"is {kind} address: webhooks go only to public addresses" in why


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(no_allowed_networks, address):
    assert network.address_refusal(address) is None


def test_a_setting_allows_loopback_and_nothing_else(settings):
    settings.STUDIO_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert network.address_refusal("127.0.0.1") is None
    assert network.address_refusal("10.0.0.5") is not None
    assert network.address_refusal("169.254.169.254") is not None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "Use an http:// or https:// URL."),
        ("https:///path", "The URL has no host."),
        ("https://user:pw@example.com/", "Put no user name or password in the URL."),
        ("https://example.com:99999/", "The URL's port is not a number from 0 to 65535."),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://[::1]:8080/", "::1 is a loopback address"),
    ],
)
def test_bad_urls_are_refused_before_any_lookup(no_allowed_networks, monkeypatch, url, why):
    monkeypatch.setattr(network, "resolve", _must_not_resolve)
    refusal = network.url_refusal(url)
    assert refusal is not None and refusal.startswith(why)


def _must_not_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolved {host}")


@pytest.mark.parametrize(
    "answers",
    [["10.0.0.5"], ["169.254.169.254"], ["93.184.215.14", "10.0.0.5"], ["127.0.0.1"]],
)
def test_a_name_that_resolves_to_any_refused_address_is_refused(
    no_allowed_networks, monkeypatch, answers
):
    monkeypatch.setattr(network, "resolve", lambda host, port: answers)
    with pytest.raises(network.Refused, match=r"hooks.example.test resolves to .*, a .* address"):
        network.target("https://hooks.example.test/x")


def test_a_refused_delivery_never_connects_and_is_not_retried(
    no_allowed_networks, monkeypatch, project
):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["10.0.0.5"])
    endpoint = WebhookEndpoint.objects.create(
        project=project,
        url="https://hooks.example.test/x",
        events=[WebhookEvent.PREVIEW_READY],
        secret=secret_new(),
        created_at=timezone.now(),
    )
    row = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="preview.ready",
        msg_id="msg_1",
        payload="{}",
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )

    def no_traffic(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"connected to {request.url}")

    client = httpx.Client(transport=httpx.MockTransport(no_traffic))
    assert delivery.webhook_deliver(delivery_id=row.pk, client=client) == "failed"
    row.refresh_from_db()
    assert row.status == WebhookDelivery.Status.FAILED and row.attempt_count == 1
    assert row.last_error.startswith(
        "Refused: hooks.example.test resolves to 10.0.0.5, a private address: webhooks go only"
    )
    attempt = WebhookAttempt.objects.get(delivery=row)
    assert attempt.address is None and attempt.status_code is None


def test_the_request_goes_to_the_checked_address_with_the_name_as_host(
    monkeypatch, project, receiver
):
    """DNS rebinding: the name is resolved once per attempt and that address — checked —
    is the one connected to; a second, different answer is never consulted."""
    answers = iter([["127.0.0.1"], ["10.0.0.5"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    monkeypatch.setattr(network, "resolve", rebinding)
    port = int(receiver.url.split(":")[2].split("/")[0])
    endpoint = WebhookEndpoint.objects.create(
        project=project,
        url=f"http://hooks.example.test:{port}/hooks",
        events=[WebhookEvent.PREVIEW_READY],
        secret=secret_new(),
        created_at=timezone.now(),
    )
    row = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="preview.ready",
        msg_id="msg_2",
        payload='{"type":"preview.ready"}',
        next_attempt_at=timezone.now(),
        created_at=timezone.now(),
    )
    assert delivery.webhook_deliver(delivery_id=row.pk) == "delivered"
    assert lookups == ["hooks.example.test"]
    (received,) = receiver.received
    assert received.headers["host"] == f"hooks.example.test:{port}"
    assert received.path == "/hooks"
    assert WebhookAttempt.objects.get(delivery=row).address == "127.0.0.1"


def test_https_keeps_the_name_for_sni_and_the_certificate_check():
    to = network.Target(
        url=httpx.URL("https://203.0.113.7/hooks"), host="hooks.example.com", address="203.0.113.7"
    )
    with httpx.Client() as client:
        request = network.pinned_request(client, to, body=b"{}", headers={}, timeout_s=5)
    assert request.url.host == "203.0.113.7"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
