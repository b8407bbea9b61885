"""take_json: the image data is lifted out of the body before the JSON is parsed, and
whatever comes back is the document json.loads would have given (lifted strings as
bytes), or the same refusal."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generations.providers import http
from generations.providers.base import MalformedResponse


def _b64(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode("ascii")


def _as_loaded(value: Any) -> Any:
    """What take_json returns for a document: long base64 strings as their bytes."""
    if isinstance(value, dict):
        return {key: _as_loaded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_loaded(item) for item in value]
    if isinstance(value, str) and len(value) >= http.LIFT_MIN_BYTES and "\\" not in value:
        return value.encode("ascii")
    return value


def _gemini_document(image: str, *, thought: str, text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": text},
                        {"inlineData": {"mimeType": "image/png", "data": thought}, "thought": True},
                        {"inlineData": {"mimeType": "image/png", "data": image}},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
        "modelVersion": "gemini-3-pro-image-preview",
    }


def test_the_image_data_comes_back_as_bytes_and_everything_else_as_parsed():
    image, thought = _b64(400_000), _b64(300_000)
    # Quotes and backslashes in the text: the string boundaries must still be found.
    text = 'He said "C:\\\\" and \\"left\\" — ✓'
    document = _gemini_document(image, thought=thought, text=text)
    body = bytearray(json.dumps(document).encode())

    parsed = http.take_json(body, service="test")

    parts = parsed["candidates"][0]["content"]["parts"]
    assert parts[0]["text"] == text
    assert parts[1]["inlineData"]["data"] == thought.encode()
    assert parts[2]["inlineData"]["data"] == image.encode()
    assert parsed == _as_loaded(document)
    assert body == bytearray()  # emptied, as before
    assert http.decode_base64(parts[2]["inlineData"]["data"], service="t") == base64.b64decode(
        image
    )


def test_escaped_base64_is_left_to_the_json_parser():
    image = _b64(300_000)
    # Some encoders write "/" as "\/": valid JSON, the same string once parsed.
    body = bytearray(json.dumps({"data": image}).replace("/", "\\/").encode())

    parsed = http.take_json(body, service="test")

    assert parsed == {"data": image}
    assert http.decode_base64(parsed["data"], service="test") == base64.b64decode(image)


def test_a_long_text_is_never_lifted():
    text = "word " * 100_000
    assert http.take_json(bytearray(json.dumps({"text": text}).encode()), service="t") == {
        "text": text
    }


@pytest.mark.parametrize(
    ("stray", "refusal"),
    [
        (b" ", None),  # valid JSON; the lenient decoder skips it, as for any string
        (b"\n", "not valid JSON"),  # a raw control character inside a JSON string
        (b"\x00", "not valid JSON"),
        (b"\xff", "not UTF-8 JSON"),
    ],
)
def test_lifted_data_that_is_not_plain_base64_is_judged_like_the_json_it_was(stray, refusal):
    data = os.urandom(225_000)
    text = base64.b64encode(data)
    body = bytearray(b'{"data": "' + text[:150_000] + stray + text[150_000:] + b'"}')

    parsed = http.take_json(body, service="Gemini")

    if refusal is None:
        assert http.decode_base64(parsed["data"], service="Gemini") == data
    else:
        with pytest.raises(MalformedResponse, match=refusal):
            http.decode_base64(parsed["data"], service="Gemini")


def test_a_body_cut_inside_the_image_data_is_still_invalid_json():
    body = json.dumps(_gemini_document(_b64(400_000), thought="", text="")).encode()

    with pytest.raises(MalformedResponse, match="not valid JSON"):
        http.take_json(bytearray(body[: len(body) // 2]), service="test")


def test_a_body_cut_after_the_image_data_is_still_invalid_json():
    body = json.dumps(_gemini_document(_b64(400_000), thought="", text="")).encode()

    with pytest.raises(MalformedResponse, match="not valid JSON"):
        http.take_json(bytearray(body[:-3]), service="test")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_base64_text = st.binary(min_size=96, max_size=400).map(
    lambda data: base64.b64encode(data).decode("ascii")
)


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    if isinstance(value, bytes):
        assert len(value) >= http.LIFT_MIN_BYTES  # only long strings are lifted
        return value.decode("ascii")
    return value


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(st.text(max_size=8), _json_values | _base64_text, max_size=6),
    ensure_ascii=st.booleans(),
    escape_slashes=st.booleans(),
)
def test_take_json_agrees_with_json_loads(monkeypatch_lift, document, ensure_ascii, escape_slashes):
    text = json.dumps(document, ensure_ascii=ensure_ascii)
    if escape_slashes:
        text = text.replace("/", "\\/")  # still the same document

    parsed = http.take_json(bytearray(text.encode()), service="test")

    assert _as_text(parsed) == json.loads(text)


@pytest.fixture(scope="module")
def monkeypatch_lift():
    # Lift strings of 128 characters or more, so small generated documents exercise it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(http, "LIFT_MIN_BYTES", 128)
        yield
