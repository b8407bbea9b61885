"""Backfill what migration 0010 added: each attempt's model (from its submission), each
generation's first preview charge, and the daily roll-ups, recounted from the ledger
(generations.spend.rollups; afterwards `manage.py spend_rollup_check` reports no drift).

The recount is the app's own (rollups_rebuild), which reads the roll-ups' current
columns: since 0021 added columns to the savings roll-up's key, the recount runs there
(after them), not here."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Attempt = apps.get_model("generations", "Attempt")
    Submission = apps.get_model("generations", "Submission")
    model_of = Submission.objects.filter(generations=OuterRef("generation_id")).values("model_key")
    Attempt.objects.filter(model_key="").update(model_key=Subquery(model_of[:1]))
    # previewed_at and the roll-ups: recounted by 0021_cross_model (rollups_rebuild).


class Migration(migrations.Migration):
    dependencies = [("generations", "0010_spend_rollups")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
