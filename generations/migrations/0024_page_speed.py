"""Pages at 100k generations (issue 19): the review queue's count and the rare-word search.

- `gen_review_queue_idx` carries the project (INCLUDE), so counting what waits in my
  projects is an index-only scan of the rows in review instead of a visit to the heap page
  of each (~1,200 pages at 100k generations; SQLite ignores INCLUDE).
- The trigram index's expression, UPPER(prompt), gets a 1,000-entry statistics sample
  (PostgreSQL): with the default 100, a word in one prompt of 2,000 could be estimated
  at 1 % of them, and the planner walked the gallery's recency index through 56,000
  generations to fill a page (~360 ms) instead of asking the trigram index (~7 ms).
"""

from django.db import migrations, models

TRIGRAM_INDEX = "submission_prompt_trgm_idx"  # 0017_prompt_trigram


def prompt_statistics(target):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"ALTER INDEX IF EXISTS {TRIGRAM_INDEX} ALTER COLUMN 1 SET STATISTICS {target}"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [("generations", "0023_references")]

    operations = [
        migrations.RemoveIndex(model_name="generation", name="gen_review_queue_idx"),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("state", "in_review")),
                fields=["created_at", "id"],
                include=["project"],
                name="gen_review_queue_idx",
            ),
        ),
        migrations.RunPython(prompt_statistics(1000), prompt_statistics(-1), elidable=False),
    ]
