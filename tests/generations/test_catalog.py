"""The model registry: defaults, the local simulation when a key is missing (visible,
never silent), what a 1K-only model offers, overrides from the environment, and
configuration mistakes caught with the entry named."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

from generations import catalog, services
from generations.providers import http, provider_for
from generations.providers.gemini import GeminiProvider
from generations.providers.local import LocalProvider
from generations.providers.openai import OpenAIProvider
from tests.support.hosted import SECRET

GEMINI_MODELS = ("nano-banana-pro", "nano-banana-2", "nano-banana")
BASE_DIR = Path(django_settings.BASE_DIR)


@pytest.fixture
def defaults():
    """The registry as studio/settings.py ships it: not overridden from the environment."""
    if os.environ.get("STUDIO_MODELS"):
        pytest.skip("STUDIO_MODELS is overridden in this environment")


@pytest.fixture
def no_gemini_key(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)


@pytest.fixture
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)


def _one(settings, **entry) -> catalog.ModelEntry:
    settings.STUDIO_MODELS = {"m": {"label": "M", "provider": "local", "model_id": "m", **entry}}
    return catalog.get_model("m")


# --- the defaults ---------------------------------------------------------------------


def test_the_defaults_are_the_three_nano_bananas_and_a_local_renderer(defaults, gemini_key):
    models = {m.key: m for m in catalog.all_models()}

    assert list(models) == [*GEMINI_MODELS, "local"]
    assert {k: models[k].model_id for k in GEMINI_MODELS} == {
        "nano-banana-pro": "gemini-3-pro-image",
        "nano-banana-2": "gemini-3.1-flash-image",
        "nano-banana": "gemini-2.5-flash-image",
    }
    for key in GEMINI_MODELS:
        model = models[key]
        assert (model.provider, model.configured_provider) == ("gemini", "gemini")
        assert model.base_url == "https://generativelanguage.googleapis.com"
        assert model.api_key_env == "GEMINI_API_KEY"
        assert not model.simulated
        assert "local simulation" not in model.label
    assert models["local"].provider == "local"


def test_pro_and_2_preview_at_1k_or_2k_and_escalate_to_4k(defaults, gemini_key):
    for key in ("nano-banana-pro", "nano-banana-2"):
        model = catalog.get_model(key)
        # Nano Banana 2 also previews at 512 (DESIGN.md's price list: $0.045).
        small = ("512",) if key == "nano-banana-2" else ()
        assert model.sizes == (*small, "1K", "2K", "4K")
        assert model.preview_sizes == (*small, "1K", "2K")
        assert (model.final_size, model.can_escalate, model.sends_image_size) == ("4K", True, True)
        assert len(model.aspect_ratios) == 10
        assert model.pixel_size(aspect_ratio="16:9", size="4K") == (5504, 3072)


def test_nano_banana_is_1k_only_and_cannot_escalate(defaults, gemini_key):
    model = catalog.get_model("nano-banana")

    assert model.sizes == model.preview_sizes == ("1K",)
    assert model.final_size == "1K"
    assert model.can_escalate is False
    assert model.sends_image_size is False
    assert "1K only" in model.label
    # Its own published table, not the Gemini 3 one (1376×768).
    assert model.pixel_size(aspect_ratio="16:9", size="1K") == (1344, 768)
    assert model.pixel_size(aspect_ratio="1:1", size="1K") == (1024, 1024)


def test_without_a_key_gemini_models_render_locally_and_say_so(defaults, no_gemini_key):
    for key in GEMINI_MODELS:
        model = catalog.get_model(key)
        assert model.provider == "local"
        assert model.configured_provider == "gemini"
        assert model.simulated
        assert model.simulated_because == "GEMINI_API_KEY is not set"
        assert model.label.endswith(" (local simulation)")
        assert isinstance(provider_for(model), LocalProvider)


def test_an_empty_key_counts_as_no_key(defaults, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "")

    assert catalog.get_model("nano-banana-pro").simulated


def test_the_key_itself_is_in_no_entry(defaults, gemini_key):
    assert SECRET not in repr(catalog.all_models())
    assert SECRET not in json.dumps(django_settings.STUDIO_MODELS)


def test_an_unknown_model_is_a_lookup_error(defaults):
    with pytest.raises(LookupError, match="Unknown model 'nope'"):
        catalog.get_model("nope")


# --- providers for entries ------------------------------------------------------------


def test_hosted_entries_get_their_provider_with_one_shared_client(defaults, gemini_key):
    pro, flash = catalog.get_model("nano-banana-pro"), catalog.get_model("nano-banana-2")

    first, second = provider_for(pro), provider_for(flash)

    assert isinstance(first, GeminiProvider) and isinstance(second, GeminiProvider)
    assert first.model is pro and second.model is flash
    assert first.client is second.client, "one connection pool per base URL"
    http.close_clients()


def test_an_openai_entry_gets_the_openai_provider(settings):
    model = _one(settings, provider="openai", base_url="https://gw.example", api_key_env="")

    assert isinstance(provider_for(model), OpenAIProvider)
    http.close_clients()


# --- what the submit form can offer ---------------------------------------------------


@pytest.mark.django_db
def test_a_preview_size_the_model_lacks_is_refused(defaults, designer, project):
    with pytest.raises(ValidationError) as caught:
        services.submission_create(
            project=project,
            user=designer,
            prompt="a cat",
            model_key="nano-banana",
            aspect_ratio="1:1",
            preview_size="2K",
            variants=1,
        )

    assert "does not preview at 2K" in caught.value.message_dict["preview_size"][0]


def test_entry_defaults_follow_the_sizes(settings):
    model = _one(settings, sizes=["1K", "2K"])

    assert model.final_size == "2K"
    assert model.preview_sizes == ("1K",)
    assert model.can_escalate


def test_a_model_with_its_own_pixel_table_may_add_aspect_ratios(settings):
    model = _one(settings, pixels_1k={"7:5": [1210, 864]}, aspect_ratios=["1:1", "7:5"])

    assert model.aspect_ratios == ("1:1", "7:5")
    assert model.pixel_size(aspect_ratio="7:5", size="2K") == (2420, 1728)


# --- configuration mistakes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"provider": "dall-e"}, "provider must be one of local, gemini, openai"),
        ({"label": ""}, "'label' is required"),
        ({"sizes": ["8K"]}, "8K not among the sizes"),
        ({"sizes": ["1K"], "preview_sizes": ["2K"]}, "2K not among the model's sizes"),
        ({"sizes": ["1K"], "final_size": "4K"}, "final_size '4K' is not in its sizes"),
        ({"aspect_ratios": ["7:5"]}, "7:5 not among the aspect ratios"),
        ({"pixels_1k": {"1:1": "big"}}, "pixels_1k maps aspect ratios"),
        (
            {"provider": "gemini", "base_url": "https://x.example?key=abc", "api_key_env": "K"},
            "must not carry credentials or a query string",
        ),
        (
            {"provider": "gemini", "base_url": "https://user:pw@x.example", "api_key_env": "K"},
            "must not carry credentials",
        ),
        ({"provider": "gemini", "base_url": "x.example", "api_key_env": "K"}, "http(s) URL"),
        ({"provider": "gemini", "base_url": "https://x.example"}, "needs api_key_env"),
        (
            {"provider": "openai", "base_url": "https://x", "openai_params": {"size": "{w}"}},
            "not a valid template",
        ),
        (
            {"provider": "openai", "base_url": "https://x", "openai_params": {"model": "y"}},
            "cannot set ['model']",
        ),
        (
            {
                "provider": "openai",
                "base_url": "https://x",
                "openai_params_by_size": {"8K": {"quality": "hd"}},
            },
            "unknown size '8K'",
        ),
    ],
)
def test_configuration_mistakes_name_the_entry(settings, entry, words):
    with pytest.raises(ImproperlyConfigured) as caught:
        _one(settings, **entry)

    assert "STUDIO_MODELS['m']" in str(caught.value)
    assert words in str(caught.value)


# --- the environment ------------------------------------------------------------------


def test_the_registry_can_be_overridden_from_the_environment():
    override = {
        "nano-banana-pro": {"model_id": "gemini-3-pro-image-preview"},
        "nano-banana": None,
        "gw": {
            "label": "Gateway Banana",
            "provider": "openai",
            "model_id": "nano-banana-pro",
            "base_url": "https://gateway.example",
            "api_key_env": "GW_KEY",
            "openai_params": {"size": "1024x1024", "image_size": "{size}"},
        },
    }
    script = (
        "import django, json; django.setup(); from generations import catalog; "
        "print(json.dumps([[m.key, m.model_id, m.provider, m.label] "
        "for m in catalog.all_models()]))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_MODELS": json.dumps(override),
        "STUDIO_DEFAULT_MODEL": "gw",
        "GEMINI_API_KEY": "",
        "GW_KEY": "set",
    }
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, check=True
    ).stdout
    models = json.loads(out)

    assert [m[0] for m in models] == ["nano-banana-pro", "nano-banana-2", "local", "gw"]
    assert models[0][1:3] == ["gemini-3-pro-image-preview", "local"]
    assert models[0][3].endswith("(local simulation)")
    assert models[3][1:] == ["nano-banana-pro", "openai", "Gateway Banana"]


def test_every_new_variable_is_documented_in_env_example():
    documented = set(
        re.findall(r"^([A-Z][A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.M)
    )

    assert {
        "GEMINI_API_KEY",
        "STUDIO_GEMINI_BASE_URL",
        "STUDIO_MODELS",
        "STUDIO_DEFAULT_MODEL",
    } <= documented
    assert "STUDIO_PROVIDER" not in documented, "replaced by the registry"
