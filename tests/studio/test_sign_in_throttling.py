"""Failed sign-ins are throttled per username and per client address (django-axes):
at the limit both are refused, the right password included, with a page that says what
happened and what to do; an admin can unlock them."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.support.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMIT = django_settings.AXES_FAILURE_LIMIT


def sign_in(client: Client, username: str, password: str, *, ip: str = "192.0.2.10", **extra):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def signed_in_as(client: Client) -> str | None:
    response = client.get(reverse("home"))
    return response.wsgi_request.user.get_username() or None


def lock_out(client: Client, username: str, *, ip: str = "192.0.2.10", **extra):
    for _ in range(LIMIT - 1):
        response = sign_in(client, username, "wrong", ip=ip, **extra)
        assert response.status_code == 200  # the form again, with its error
    return sign_in(client, username, "wrong", ip=ip, **extra)


@pytest.fixture
def dana(db):
    return UserFactory(username="dana")


@pytest.fixture
def otto(db):
    return UserFactory(username="otto")


def test_the_limit_is_a_handful_of_tries_not_fifty():
    assert 3 <= LIMIT <= 20
    assert django_settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]


def test_wrong_passwords_under_the_limit_still_let_the_right_one_in(client, dana):
    for _ in range(LIMIT - 1):
        sign_in(client, "dana", "wrong")
    response = sign_in(client, "dana", PASSWORD)
    assert response.status_code == 302
    assert signed_in_as(client) == "dana"


def test_at_the_limit_sign_in_is_refused_with_a_page_saying_when_to_try_again(client, dana):
    response = lock_out(client, "dana")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Sign-in paused" in page
    assert f"Try again in {django_settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in page
    assert "An administrator can unlock it sooner" in page

    right = sign_in(client, "dana", PASSWORD)
    assert right.status_code == 429
    assert signed_in_as(client) is None


def test_a_locked_username_is_refused_from_anywhere_and_a_locked_address_for_anyone(
    client, dana, otto
):
    lock_out(client, "dana", ip="192.0.2.10")

    assert sign_in(Client(), "dana", PASSWORD, ip="198.51.100.20").status_code == 429
    assert sign_in(Client(), "otto", PASSWORD, ip="192.0.2.10").status_code == 429

    elsewhere = Client()
    assert sign_in(elsewhere, "otto", PASSWORD, ip="198.51.100.20").status_code == 302
    assert signed_in_as(elsewhere) == "otto"


def test_an_admin_unlocks_from_the_django_admin(client, dana):
    lock_out(client, "dana")
    admin = Client()
    admin.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    changelist = reverse("admin:axes_accessattempt_changelist")
    listed = admin.get(changelist, {"q": "dana"})
    assert listed.status_code == 200
    attempts = list(listed.context["cl"].result_list)
    assert attempts, "the lock shows in the admin"

    confirmed = admin.post(
        changelist,
        {
            "action": "delete_selected",
            "_selected_action": [attempt.pk for attempt in attempts],
            "post": "yes",
        },
    )
    assert confirmed.status_code == 302

    assert sign_in(client, "dana", PASSWORD).status_code == 302
    assert signed_in_as(client) == "dana"


def test_an_admin_unlocks_from_the_command_line(client, dana):
    lock_out(client, "dana")
    call_command("axes_reset_username", "dana")
    assert sign_in(client, "dana", PASSWORD).status_code == 302


def test_behind_a_proxy_the_address_it_saw_counts_not_what_the_client_claims(
    settings, client, dana, otto
):
    # What STUDIO_PROXY_COUNT=1 (nginx in front) sets.
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    settings.AXES_IPWARE_PROXY_ORDER = "left-most"
    settings.AXES_IPWARE_PROXY_COUNT = 0
    settings.IPWARE_STRICT = False
    nginx = "127.0.0.1"
    # The attacker varies a forged first entry; nginx appends the address it saw.
    for n in range(LIMIT):
        sign_in(
            client, f"guess{n}", "wrong", ip=nginx, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 203.0.113.9"
        )
    locked = sign_in(client, "otto", PASSWORD, ip=nginx, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert locked.status_code == 429

    # Everyone else comes through the same nginx and is not locked out with them.
    other = Client()
    response = sign_in(other, "dana", PASSWORD, ip=nginx, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 302
