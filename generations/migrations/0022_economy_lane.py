"""The economy lane (issue 15, item 1): the lane of a project's default, a generation's
final and an attempt; the batch jobs (EconomyJob), recorded before they are created.

The stored lane value stays "batch" (price list, ledger and roll-ups hold it since 0006);
only its label changes to "Economy (Batch API)". Migration 0007 seeded the batch lane at
half of each published image price and 0016 the input images; this one makes sure every
Gemini model's entries are there (get_or_create: nothing changes where they are).
"""

import datetime as dt
from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models

SINCE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOTE = "published price (seed)"
GEMINI = {
    "nano-banana-pro": {"1K": "0.134", "2K": "0.134", "4K": "0.24"},
    "nano-banana-2": {"512": "0.045", "1K": "0.067", "2K": "0.101", "4K": "0.151"},
    "nano-banana": {"1K": "0.039"},
}


def seed_batch_prices(apps, schema_editor):
    PriceEntry = apps.get_model("generations", "PriceEntry")
    for model_key, prices in GEMINI.items():
        for size, price in prices.items():
            PriceEntry.objects.get_or_create(
                model_key=model_key,
                size=size,
                lane="batch",
                kind="image",
                effective_from=SINCE,
                defaults={"usd_per_image": Decimal(price) / 2, "note": NOTE},
            )


class Migration(migrations.Migration):

    dependencies = [
        ("generations", "0021_cross_model"),
    ]

    operations = [
        migrations.AddField(
            model_name='attempt',
            name='lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], default='standard', max_length=8),
        ),
        migrations.AddField(
            model_name='generation',
            name='final_lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], default='standard', max_length=8),
        ),
        migrations.AddField(
            model_name='project',
            name='final_lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], default='standard', max_length=8),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], default='standard', max_length=8),
        ),
        migrations.AlterField(
            model_name='priceentry',
            name='lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], default='standard', max_length=8),
        ),
        migrations.AlterField(
            model_name='spendrollup',
            name='lane',
            field=models.CharField(choices=[('standard', 'Now (standard)'), ('batch', 'Economy (Batch API)')], max_length=8),
        ),
        migrations.CreateModel(
            name='EconomyJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=64, unique=True)),
                ('model_key', models.CharField(max_length=64)),
                ('provider', models.CharField(max_length=32)),
                ('provider_job', models.CharField(blank=True, max_length=200)),
                ('status', models.CharField(choices=[('recorded', 'Recorded (not yet created at the provider)'), ('pending', 'Pending at the provider'), ('running', 'Running at the provider'), ('succeeded', 'Succeeded (results not all stored yet)'), ('failed', 'Failed (outcomes not all recorded yet)'), ('cancelled', 'Cancelled at the provider (outcomes not all recorded yet)'), ('expired', 'Expired (outcomes not all recorded yet)'), ('stored', 'Done (every result stored once)')], default='recorded', max_length=10)),
                ('provider_state', models.CharField(blank=True, max_length=40)),
                ('items', models.PositiveIntegerField(default=0)),
                ('request_bytes', models.PositiveBigIntegerField(default=0)),
                ('responses_file', models.CharField(blank=True, max_length=200)),
                ('lease_token', models.UUIDField(blank=True, null=True)),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True)),
                ('next_poll_at', models.DateTimeField(blank=True, null=True)),
                ('polls', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('recorded_at', models.DateTimeField()),
                ('created_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('stored_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-recorded_at', '-pk'],
                'indexes': [models.Index(condition=models.Q(('status', 'stored'), _negated=True), fields=['next_poll_at'], name='economy_job_open_idx')],
            },
        ),
        migrations.AddField(
            model_name='attempt',
            name='economy_job',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='attempts', to='generations.economyjob'),
        ),
        migrations.RunPython(seed_batch_prices, migrations.RunPython.noop),
    ]
