"""Cross-model previews (issue 15, item 2): a submission's final may be rendered on another
model than its previews (`Submission.final_model_key`, "" = the same model), and the
savings roll-up counts the work per path — preview model × preview size → final model ×
final size — so the savings page can compare paths.

The roll-ups are recounted here with the app's own code (rollups_rebuild), as 0011 did
before the key changed; 0011 now leaves the recount to this migration."""

from django.conf import settings
from django.db import migrations, models


def recount(apps, schema_editor):
    if not apps.get_model("generations", "LedgerEntry").objects.exists():
        return  # a fresh database: nothing to count
    from generations.spend.rollups import rollups_rebuild

    rollups_rebuild()


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0020_provider_health"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="savingsrollup", name="savings_rollup_key"),
        migrations.AddField(
            model_name="savingsrollup",
            name="preview_model_key",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.AddField(
            model_name="savingsrollup",
            name="preview_size",
            field=models.CharField(default="", max_length=4),
        ),
        migrations.AddField(
            model_name="submission",
            name="final_model_key",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="savingsrollup",
            constraint=models.UniqueConstraint(
                fields=(
                    "time_zone",
                    "day",
                    "project",
                    "designer",
                    "model_key",
                    "final_size",
                    "preview_model_key",
                    "preview_size",
                ),
                name="savings_rollup_path_key",
            ),
        ),
        migrations.RunPython(recount, migrations.RunPython.noop, elidable=True),
    ]
