"""`manage.py provider_check`: one real call, reported for an operator — against the fake
provider server, never the internet."""

from __future__ import annotations

import io

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
