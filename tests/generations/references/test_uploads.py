"""Uploads: every bad file is refused with what to do and leaves nothing stored; a good one
is stored upright, without metadata, with renditions, and served only to its project."""

from __future__ import annotations

import io
import os
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from PIL import Image

from generations import references
from generations.imaging import uploads
from generations.imaging.codec import ImageRejected
from generations.models import Upload
from tests.support import pictures

pytestmark = pytest.mark.django_db


def _stored_files(settings) -> list[str]:
    root = settings.MEDIA_ROOT
    found = []
    for folder, _, names in os.walk(root):
        found += [os.path.join(folder, name) for name in names]
    return found


BAD = [
    ("zero bytes", b"", "empty (0 bytes)"),
    (
        "a text file named .png",
        b"just some notes, not a picture\n",
        "not a picture, whatever its name",
    ),
    ("a truncated PNG", pictures.truncated_png(), "truncated or damaged"),
    ("a CMYK JPEG", pictures.cmyk_jpeg(), "CMYK"),
    ("an animated GIF", pictures.animated("GIF"), "animated (3 frames)"),
    ("an animated WebP", pictures.animated("WEBP"), "animated (3 frames)"),
    ("an animated PNG", pictures.animated("PNG"), "animated (3 frames)"),
    ("a bomb past Pillow's own limit", pictures.bomb_png(100_000, 100_000), "decompression bomb"),
    ("a bomb by its header", pictures.bomb_png(10_000, 8_000), "80,000,000 pixels"),
    ("a TIFF", pictures.encoded(pictures.landscape(), "TIFF"), "TIFF files are not taken"),
]


@pytest.mark.parametrize(("what", "data", "said"), BAD, ids=[case[0] for case in BAD])
def test_bad_files_are_refused_with_what_to_do_and_nothing_is_stored(
    settings, designer, project, what, data, said
):
    with pytest.raises(ValidationError) as refused:
        references.upload_create(project=project, user=designer, data=data, filename="pic.png")
    message = refused.value.message_dict["references"][0]
    assert said in message
    assert message.startswith("pic.png: ")
    # Every message says what to do next.
    assert any(verb in message for verb in ("upload", "Upload", "export", "pick", "Scale"))
    assert not Upload.objects.exists()
    assert _stored_files(settings) == []


def test_a_file_over_the_byte_limit_is_refused_before_it_is_decoded(settings, designer, project):
    settings.STUDIO_UPLOAD_MAX_BYTES = 1000
    with pytest.raises(ValidationError, match="at most 1000"):
        references.upload_create(project=project, user=designer, data=pictures.png(400, 300))
    assert _stored_files(settings) == []


def test_the_bomb_is_refused_from_the_header_without_decoding(monkeypatch):
    def no_decode(*args, **kwargs):
        raise AssertionError("decoded a bomb")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(ImageRejected, match="Nothing was decoded"):
        uploads.upload_clean(pictures.bomb_png(10_000, 8_000))


def test_exif_orientation_is_applied_then_every_metadata_chunk_removed(settings, designer, project):
    upload = references.upload_create(
        project=project, user=designer, data=pictures.jpeg_rotated_by_exif(6), filename="phone.jpg"
    )
    assert (upload.width, upload.height) == (200, 300)  # turned upright
    assert "turned upright (EXIF orientation 6)" in upload.note
    with upload.original.open("rb") as handle:
        stored = handle.read()
    assert b"PhoneMaker" not in stored and b"SecretApp" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.size == (200, 300)
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info and "icc_profile" not in image.info
        # The blue corner (top-left as stored) is top-right once turned by orientation 6.
        red, green, blue = image.convert("RGB").getpixel((190, 5))
        assert blue > 200 and red < 60
    assert upload.thumbnail.name and upload.screen.name and upload.placeholder


def test_16_bit_pngs_are_converted_to_8_bits(designer, project):
    for data in (pictures.png_16_bit_grey(), pictures.png_16_bit_rgb()):
        upload = references.upload_create(project=project, user=designer, data=data)
        assert "16 bits per channel converted to 8" in upload.note
        with upload.original.open("rb") as handle, Image.open(handle) as image:
            assert image.mode in ("L", "RGB")
    rgb = Upload.objects.get(width=40)
    with rgb.original.open("rb") as handle, Image.open(handle) as image:
        assert image.getpixel((0, 0)) == (234, 78, 3)  # 60000/20000/1000 >> 8


def test_a_large_photo_is_stored_at_the_stored_edge(designer, project):
    upload = references.upload_create(
        project=project, user=designer, data=pictures.jpeg(5000, 2500)
    )
    assert (upload.width, upload.height) == (2048, 1024)
    assert "scaled from 5000×2500 to 2048×1024" in upload.note


def test_the_same_picture_twice_is_one_upload(designer, project):
    first = references.upload_create(project=project, user=designer, data=pictures.png())
    again = references.upload_create(project=project, user=designer, data=pictures.png())
    assert first.pk == again.pk and Upload.objects.count() == 1


def test_a_failed_row_save_removes_the_files_written(settings, designer, project, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Upload.objects, "create", broken)
    with pytest.raises(RuntimeError):
        references.upload_create(project=project, user=designer, data=pictures.png())
    assert _stored_files(settings) == []


def test_reviewers_and_outsiders_cannot_upload(reviewer, outsider, project):
    for person in (reviewer, outsider):
        with pytest.raises(PermissionDenied):
            references.upload_create(project=project, user=person, data=pictures.png())


def test_an_upload_is_served_to_its_project_and_404_to_anyone_else(
    client, designer, reviewer, outsider, project
):
    upload = references.upload_create(project=project, user=designer, data=pictures.png())
    for kind in ("original", "thumbnail", "screen"):
        url = reverse("upload_media", args=[upload.pk, kind])
        client.force_login(reviewer)
        response = client.get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, max-age=3600"
        client.force_login(outsider)
        forged = client.get(url)
        missing = client.get(reverse("upload_media", args=[upload.pk + 1000, kind]))
        assert forged.status_code == missing.status_code == 404
        # The same page (its CSRF token aside): nothing says which one exists.
        assert _without_tokens(forged.content) == _without_tokens(missing.content)


def _without_tokens(body: bytes) -> bytes:
    return re.sub(rb"[A-Za-z0-9]{32,}", b"", body)


def test_tokens_from_another_project_are_refused_like_missing_ones(designer, outsider, project):
    mine = references.upload_create(project=project, user=designer, data=pictures.png())
    theirs_project = outsider.memberships.get().project
    theirs = references.upload_create(project=theirs_project, user=outsider, data=pictures.jpeg())
    assert references.pictures_resolve(user=designer, project=project, tokens=[mine.token]) == [
        mine
    ]
    messages = []
    for token in (theirs.token, f"u{theirs.pk + 99}", "i999999", "x1"):
        with pytest.raises(ValidationError) as refused:
            references.pictures_resolve(user=designer, project=project, tokens=[token])
        messages.append(refused.value.message_dict["references"][0])
    assert messages[0] == messages[1] == messages[2]
