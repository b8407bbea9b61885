"""Spend core: the ledger is append-only in the database too (PostgreSQL refuses UPDATE
and DELETE of its rows with a trigger; other databases rely on LedgerEntry.save/delete),
and a notification kind for budgets crossing their soft threshold."""

from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION generations_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: add a correction instead of %%', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER generations_ledger_append_only
    BEFORE UPDATE OR DELETE ON generations_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION generations_ledger_append_only();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS generations_ledger_append_only ON generations_ledgerentry;
DROP FUNCTION IF EXISTS generations_ledger_append_only();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD)


class Migration(migrations.Migration):
    dependencies = [("generations", "0007_seed_price_list")]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("preview_ready", "Preview ready"),
                    ("preview_failed", "Preview failed"),
                    ("review_requested", "Awaits your review"),
                    ("approved", "Approved"),
                    ("auto_approved", "Approved automatically"),
                    ("rejected", "Rejected"),
                    ("changes_requested", "Changes requested"),
                    ("delivered", "Final delivered"),
                    ("delivered_fallback", "Final delivered (fallback)"),
                    ("final_failed", "Final failed"),
                    ("commented", "New comment"),
                    ("budget_threshold", "Budget threshold reached"),
                ],
                max_length=24,
            ),
        ),
        migrations.RunPython(guard, unguard),
    ]
