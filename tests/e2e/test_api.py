"""The API end to end: real HTTP to a live server, a real Celery worker rendering, the
real broker and database — submit → preview → approve → delivered → download, as a
program using personal tokens would."""

from __future__ import annotations

import hashlib
import struct
from decimal import Decimal
from typing import Any

import httpx
import pytest

from generations import tokens
from generations.models import Image
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def client_for(live_server, user: Any, scope: str = "write") -> httpx.Client:
    _, raw = tokens.token_create(user=user, name=f"e2e {user.username}", scope=scope)
    return httpx.Client(
        base_url=f"{live_server.url}/api/v1",
        headers={"Authorization": f"Bearer {raw}"},
        timeout=30,
    )


def state_of(api: httpx.Client, url: str) -> dict:
    response = api.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_submit_preview_approve_deliver_download_through_the_api(
    celery_worker, live_server, project, designer, reviewer, outsider
):
    celery_worker.start(profile="fixed:latency=0.2,fail=0")
    designer_api, reviewer_api = (
        client_for(live_server, designer),
        client_for(live_server, reviewer),
    )

    submitted = designer_api.post(
        "/projects/acme/submissions",
        json={
            "prompt": "a paper boat on a flooded street, morning light",
            "model_key": "nano-banana-pro",
            "aspect_ratio": "16:9",
            "preview_size": "1K",
        },
    )
    assert submitted.status_code == 201, submitted.text
    url = submitted.json()["generations"][0]["url"]

    in_review = wait_for(
        lambda: (body := state_of(designer_api, url))["state"] == "in_review" and body,
        timeout=60, what="the preview, through the API",
    )  # fmt: skip
    (preview_attempt,) = in_review["attempts"]
    assert (preview_attempt["phase"], preview_attempt["outcome"]) == ("preview", "succeeded")
    assert preview_attempt["charge"]["unit_price_usd"] == "0.1340"

    # The designer may not approve their own work; the reviewer does.
    refused = designer_api.post(f"{url}/approve", json={})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    approved = reviewer_api.post(f"{url}/approve", json={"note": "ship it"})
    # The answer says where the final is now: a worker may have claimed it already.
    assert approved.status_code == 200
    assert approved.json()["state"] in ("final_queued", "final_rendering", "delivered")

    delivered = wait_for(
        lambda: (body := state_of(reviewer_api, url))["state"] == "delivered" and body,
        timeout=90, what="the 4K final, through the API",
    )  # fmt: skip
    assert [step["to_state"] for step in delivered["timeline"]] == [
        "preview_queued", "preview_rendering", "in_review",
        "final_queued", "final_rendering", "delivered",
    ]  # fmt: skip
    assert [(a["phase"], a["size"]) for a in delivered["attempts"]] == [
        ("preview", "1K"), ("final", "4K"),
    ]  # fmt: skip
    # The final is made from the approved preview (the default): its input image is billed.
    preview, final, input_image = Decimal("0.134"), Decimal("0.24"), Decimal("0.0011")
    assert Decimal(delivered["charges"]["total_usd"]) == preview + final + input_image
    final = next(image for image in delivered["images"] if image["phase"] == "final")
    assert (final["width"], final["height"], final["native"]) == (5504, 3072, True)

    # Download the 4K original: the bytes the worker stored, a 5504×3072 PNG.
    download = reviewer_api.get(final["downloads"]["original"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert hashlib.sha256(download.content).hexdigest() == Image.objects.get(pk=final["id"]).sha256
    assert struct.unpack(">II", download.content[16:24]) == (5504, 3072)  # the PNG's IHDR

    # Someone of another project sees none of it, as on the pages.
    outsider_api = client_for(live_server, outsider, scope="read")
    assert outsider_api.get(url).status_code == 404
    assert outsider_api.get(final["downloads"]["original"]).status_code == 404
    listed = reviewer_api.get("/generations", params={"state": "delivered"}).json()
    assert [item["id"] for item in listed["items"]] == [delivered["id"]]
