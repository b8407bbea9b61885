"""From a CSV file or a prompt matrix to planned rows, refused rows and problems: every
bad input says what is wrong, and nothing here writes."""

from __future__ import annotations

import pytest

from generations.batches.planning import plan_csv, plan_matrix
from generations.models import Batch, Submission

pytestmark = pytest.mark.django_db

HEADER = "prompt,aspect_ratio,variants,model,preview_size,reference_image_ids\n"


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return (header + "\n".join(rows) + "\n").encode()


def test_a_good_csv_plans_every_row_in_order(project):
    plan = plan_csv(
        project,
        csv_of(
            '"a ceramic mug on an oak table, soft light",1:1,2,nano-banana-pro,1K,',
            "a glass bottle on marble,16:9,1,nano-banana-2,2K,",
        ),
    )
    assert plan.problems == [] and plan.refused == []
    assert [(r.row, r.line, r.prompt, r.aspect_ratio, r.variants) for r in plan.rows] == [
        (1, 2, "a ceramic mug on an oak table, soft light", "1:1", 2),
        (2, 3, "a glass bottle on marble", "16:9", 1),
    ]
    assert [r.model_key for r in plan.rows] == ["nano-banana-pro", "nano-banana-2"]
    assert plan.ok
    assert not Batch.objects.exists() and not Submission.objects.exists()


def test_the_header_may_be_in_any_order_with_spaces_semicolons_and_a_bom(project):
    data = (
        "\ufeffModel; Preview size; Prompt; Variants; Aspect ratio\n"
        "nano-banana-pro;1K;a fox;1;1:1\n"
    )
    plan = plan_csv(project, data.encode())
    assert plan.problems == []
    assert [(r.prompt, r.model_key, r.preview_size) for r in plan.rows] == [
        ("a fox", "nano-banana-pro", "1K")
    ]


def test_a_wrong_header_is_refused_with_what_is_expected(project):
    plan = plan_csv(project, csv_of("a fox,1:1,1,pro", header="prompt,ratio,variants,model\n"))
    assert plan.rows == []
    assert plan.problems == [
        "The header lacks “aspect_ratio” and “preview_size”.",
        "The header has unknown column “ratio”.",
        "Expected a first line like: "
        "prompt,aspect_ratio,variants,model,preview_size[,reference_image_ids]",
    ]


def test_bad_rows_are_refused_one_by_one_with_reasons(project):
    plan = plan_csv(
        project,
        csv_of(
            "a fox in the snow,1:1,2,nano-banana-pro,1K,",
            ",1:1,1,nano-banana-pro,1K,",  # no prompt
            "a kite,1:1,9,nano-banana-pro,1K,",  # too many variants
            "a kite,1:1,1,dall-e,1K,",  # unknown model
            "a kite,1:1,1,nano-banana-pro,3K,",  # unknown size
            "a kite,1:1,1,nano-banana-pro,4K,",  # not a preview size of the model
            "a kite,7:5,1,nano-banana-pro,1K,",  # unknown ratio
            "a kite,1:1,1,nano-banana-pro,1K,img_12",  # references
            "a kite,1:1,1",  # short row
        ),
    )
    assert [r.row for r in plan.rows] == [1]
    why = {refused.row: refused.errors for refused in plan.refused}
    assert why[2] == ["The prompt is empty."]
    assert why[3] == ["Variants must be a whole number from 1 to 4, not “9”."]
    assert why[4][0].startswith("Unknown model “dall-e” (known: ")
    assert why[5] == ["Unknown preview size “3K” (use 512, 1K or 2K)."]
    assert why[6] == [
        "Nano Banana Pro (Gemini 3 Pro Image) (local simulation) does not preview at 4K."
    ]
    assert why[7] == ["Nano Banana Pro (Gemini 3 Pro Image) (local simulation) does not offer 7:5."]
    assert why[8] == ["Reference images are not supported yet: leave reference_image_ids empty."]
    assert why[9][0] == "It has 3 values but the header has 6 columns."
    assert plan.refused[0].cells["prompt"] == ""
    assert plan.refused[-1].line == 10
    assert not plan.ok


def test_the_projects_rules_apply_to_every_row(project):
    project.allowed_models = ["nano-banana-2"]
    project.save()
    plan = plan_csv(project, csv_of("a fox,1:1,1,nano-banana-pro,1K,"))
    assert plan.refused[0].errors == [
        "Acme Launch does not allow Nano Banana Pro (Gemini 3 Pro Image) (local simulation)."
    ]


def test_too_many_rows_is_refused_as_a_whole(project, settings):
    settings.STUDIO_BATCH_MAX_ROWS = 3
    plan = plan_csv(project, csv_of(*["a fox,1:1,1,nano-banana-pro,1K,"] * 5))
    assert plan.rows == [] and plan.refused == []
    assert plan.problems == [
        "The file has 5 rows; a batch takes at most 3. Split it into several files."
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "This is a PNG image, not a CSV text file."),
        (b"PK\x03\x04rest", "This is a ZIP archive (an .xlsx or .numbers spreadsheet?)"),
        (b"prompt\x00,x", "This is not a text file (it contains NUL bytes)."),
        (b"prompt,aspect_ratio\n\xff\xfe caf\xe9", "This is not UTF-8 text (line 2 has bytes"),
        (b"   \n", "The file is empty."),
        (HEADER.encode(), "The file has a header but no rows."),
        (b"x" * (4 * 1024 * 1024 + 1), "The file is 4.0 MB; a batch file may be at most 4 MB."),
    ],
)
def test_a_file_that_is_not_a_usable_text_csv_says_why(project, data, problem):
    plan = plan_csv(project, data)
    assert plan.rows == []
    assert len(plan.problems) == 1 and plan.problems[0].startswith(problem)


def test_a_matrix_expands_every_combination_and_aspect_ratio(project):
    plan = plan_matrix(
        project,
        template="{product} on a {surface}, {light}",
        lists_text="product: mug | bottle\nsurface: oak table | marble slab\nlight: soft light",
        aspect_ratios=["1:1", "16:9"],
        model_key="nano-banana-2",
        preview_size="1K",
        variants=2,
    )
    assert plan.problems == [] and plan.refused == []
    assert [(r.row, r.prompt, r.aspect_ratio) for r in plan.rows] == [
        (1, "mug on a oak table, soft light", "1:1"),
        (2, "mug on a oak table, soft light", "16:9"),
        (3, "mug on a marble slab, soft light", "1:1"),
        (4, "mug on a marble slab, soft light", "16:9"),
        (5, "bottle on a oak table, soft light", "1:1"),
        (6, "bottle on a oak table, soft light", "16:9"),
        (7, "bottle on a marble slab, soft light", "1:1"),
        (8, "bottle on a marble slab, soft light", "16:9"),
    ]
    assert {(r.model_key, r.preview_size, r.variants) for r in plan.rows} == {
        ("nano-banana-2", "1K", 2)
    }


def test_a_matrix_past_the_limit_is_refused_before_expanding(project):
    plan = plan_matrix(
        project,
        template="{a} {b} {c}",
        lists_text="\n".join(f"{n}: " + " | ".join(str(i) for i in range(11)) for n in "abc"),
        aspect_ratios=["1:1"],
        model_key="nano-banana-pro",
        preview_size="1K",
        variants=1,
    )
    assert plan.rows == []
    assert plan.problems == [
        "The matrix expands to 11 a × 11 b × 11 c × 1 aspect ratio = 1,331 rows; a batch "
        "takes at most 1,000. Shorten a list or pick fewer aspect ratios."
    ]


def test_a_matrix_with_missing_or_stray_lists_says_what(project):
    plan = plan_matrix(
        project,
        template="{product} on a {surface",
        lists_text="product: mug\ncolour: red | blue\nthis line has no colon\nempty:",
        aspect_ratios=[],
        model_key="nano-banana-pro",
        preview_size="1K",
        variants=1,
    )
    assert plan.problems == [
        "The template has a { or } that is not part of a {placeholder}.",
        "List line 3: write it as “name: value | value | …”.",
        "The list “empty” has no values.",
        "The list “colour” is not used in the template.",
        "Pick at least one aspect ratio.",
    ]


def test_a_matrix_placeholder_without_a_list_is_named(project):
    plan = plan_matrix(
        project,
        template="{product} on a {surface}",
        lists_text="product: mug",
        aspect_ratios=["1:1"],
        model_key="nano-banana-pro",
        preview_size="1K",
        variants=1,
    )
    assert plan.problems == ["The placeholder {surface} has no list of values."]


def test_a_matrix_with_an_unknown_model_refuses_its_rows(project):
    plan = plan_matrix(
        project,
        template="{product}",
        lists_text="product: mug | cup",
        aspect_ratios=["1:1"],
        model_key="nope",
        preview_size="1K",
        variants=1,
    )
    assert plan.rows == []
    assert [r.errors[0][:22] for r in plan.refused] == ["Unknown model “nope” ("] * 2
