"""Prompt search on PostgreSQL reads a trigram index instead of scanning every prompt.

The gallery's (and the API's) search is `submission__prompt__icontains` per word, which
PostgreSQL runs as `UPPER("prompt"::text) LIKE UPPER('%word%')`: the index is on exactly
that expression, with pg_trgm's operator class, so the planner can use it for any
substring. SQLite (the embedded default) has no trigram index; there the migration does
nothing and the search stays a scan, which is fine at `make run` sizes.
"""

from django.db import migrations

INDEX = "submission_prompt_trgm_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON generations_submission "
        "USING gin ((UPPER(prompt::text)) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("generations", "0016_fidelity")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
