"""`manage.py provider_check`: one real call, reported for an operator — against the fake
provider server, never the internet."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from tests.support.fakes import png_bytes
from tests.support.hosted import KEY_ENV, MODEL_KEY, SECRET, configure
from tests.support.provider_server import gemini_image, gemini_ok, gemini_unauthenticated, openai_ok


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)


def _check(*args: str) -> str:
    out = io.StringIO()
    call_command("provider_check", MODEL_KEY, *args, stdout=out)
    return out.getvalue()


def test_it_reports_latency_size_bytes_mime_and_the_published_price(settings, provider_server):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok())

    out = _check("--size", "2K", "--aspect-ratio", "16:9")

    assert "request  2K 16:9 (expects 2752×1536)" in out
    assert "latency  " in out
    assert "pixels   2752×1536 (as asked)" in out
    assert "bytes    " in out
    assert "mime     image/png\n" in out
    assert "meta     responseId = resp-fake-1" in out
    assert "price    $0.1340 per image: the published list price (DESIGN.md)" in out
    assert SECRET not in out
    (sent,) = provider_server.requests
    assert sent.json["generationConfig"]["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "2K",
    }


def test_it_flags_a_wrong_size_and_mime(settings, provider_server):
    configure(settings, provider_server.url)
    provider_server.script(gemini_image(png_bytes(512, 512), mime_type="image/jpeg"))

    out = _check()

    assert "512×512 (MISMATCH: asked for 1024×1024)" in out
    assert "image/png (MISMATCH: provider said image/jpeg)" in out


def test_an_unpriced_model_says_the_price_list_is_not_configured(settings, provider_server):
    configure(settings, provider_server.url, provider="openai", model_id="some-gateway-model")
    provider_server.script(openai_ok())

    assert "price list not configured" in _check()


def test_it_can_save_the_image(settings, provider_server, tmp_path):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok())

    _check("--save", str(tmp_path / "check.png"))

    assert PILImage.open(tmp_path / "check.png").size == (1024, 1024)


def test_a_failed_call_is_a_command_error_without_the_key(settings, provider_server):
    configure(settings, provider_server.url)
    provider_server.script(gemini_unauthenticated())

    with pytest.raises(CommandError) as caught:
        _check()

    assert "auth_failed (not retryable)" in str(caught.value)
    assert KEY_ENV in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_model_without_its_key_is_refused_rather_than_simulated(
    settings, provider_server, monkeypatch
):
    configure(settings, provider_server.url)
    monkeypatch.delenv(KEY_ENV)

    with pytest.raises(CommandError, match=f"{KEY_ENV} is not set"):
        _check()

    assert provider_server.requests == []


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--size", "8K"], "not 8K"), (["--aspect-ratio", "7:5"], "not 7:5")],
)
def test_a_size_or_ratio_the_model_lacks_is_refused(settings, provider_server, args, words):
    configure(settings, provider_server.url)

    with pytest.raises(CommandError, match=words):
        _check(*args)


def test_an_unknown_model_lists_the_configured_ones(settings, provider_server):
    configure(settings, provider_server.url)

    with pytest.raises(CommandError, match=f"configured: {MODEL_KEY}"):
        call_command("provider_check", "nope")


@pytest.mark.django_db  # the list prices come from the price list
def test_fidelity_renders_a_1k_then_the_final_by_each_strategy_and_reports_them(
    settings, provider_server
):
    configure(settings, provider_server.url)
    provider_server.script(gemini_ok(), gemini_ok(), gemini_ok())

    out = _check("--fidelity")

    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["base"].startswith("base     1K 1:1 seed ")
    for strategy in ("from_preview", "from_prompt", "upscale"):
        assert re.search(
            r"similarity \d\.\d{3} · hash distance \d+ · \d+\.\d s · [\d,]+ bytes · ",
            lines[strategy],
        ), lines[strategy]
    assert "not in the price list" in lines["from_preview"]  # hosted-test has no prices
    # Three calls: the 1K, the 4K from it (its bytes as the first part), the 4K from the
    # prompt; the upscale is made here. One seed throughout.
    base, from_preview, from_prompt = provider_server.requests
    seeds = {r.json["generationConfig"]["seed"] for r in provider_server.requests}
    assert len(seeds) == 1
    assert from_preview.inline_images[0][0] == "image/png"
    assert [len(r.inline_images) for r in (base, from_preview, from_prompt)] == [0, 1, 0]
    sizes = [
        r.json["generationConfig"]["imageConfig"]["imageSize"] for r in provider_server.requests
    ]
    assert sizes == ["1K", "4K", "4K"]


@pytest.mark.django_db
def test_fidelity_skips_from_the_preview_for_a_model_without_input_images(
    settings, provider_server
):
    configure(settings, provider_server.url, max_input_images=0)
    provider_server.script(gemini_ok(), gemini_ok())

    out = _check("--fidelity")

    assert "from_preview skipped: Test Banana takes no input images" in out
    assert len(provider_server.requests) == 2
