"""Escalation strategies as data: what a model can do with the one asked for."""

from __future__ import annotations

import pytest

from generations import catalog
from generations.strategies import Strategy, label, resolve


@pytest.mark.parametrize("asked", ["", Strategy.FROM_PREVIEW])
def test_the_default_is_from_the_preview_for_a_model_that_takes_input_images(asked):
    resolved = resolve(asked, takes_input_images=True)
    assert (resolved.strategy, resolved.fell_back, resolved.note) == (
        Strategy.FROM_PREVIEW,
        False,
        "",
    )
    assert resolved.sends_preview and resolved.calls_model


def test_a_model_without_input_images_falls_back_to_prompt_and_seed_and_says_so():
    resolved = resolve("", takes_input_images=False, model_label="Old Banana")
    assert (resolved.asked, resolved.strategy) == (Strategy.FROM_PREVIEW, Strategy.FROM_PROMPT)
    assert resolved.fell_back
    assert resolved.note.startswith("Old Banana takes no input images")
    assert "may differ from what you approve" in resolved.note


@pytest.mark.parametrize("strategy", [Strategy.FROM_PROMPT, Strategy.UPSCALE])
def test_prompt_and_upscale_need_no_input_images(strategy):
    resolved = resolve(strategy, takes_input_images=False)
    assert (resolved.strategy, resolved.fell_back) == (strategy, False)
    assert resolved.calls_model is (strategy != Strategy.UPSCALE)


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError):
        resolve("sideways", takes_input_images=True)


def test_the_catalogue_answers_for_configured_and_vanished_models(settings):
    assert catalog.escalation(asked="", model_key="nano-banana-pro").strategy == (
        Strategy.FROM_PREVIEW
    )
    gone = catalog.escalation(asked="", model_key="retired-model")
    assert gone.strategy == Strategy.FROM_PROMPT and "retired-model" in gone.note
    assert label("upscale") == "Upscale the preview (not native 4K)" and label("") == "—"
