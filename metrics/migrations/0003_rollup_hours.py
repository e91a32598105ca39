"""Day rows by the hour: a day's first 1, 2, ... 24 hours (24 = the whole day).

Rows rolled up before this have no hour rows, so they are dropped here: the
hourly and nightly runs roll every unmarked day up again (newest first, a task's
time budget at a time), or `manage.py rollup_metrics --since <first day>` does it
at once. Until then the card computes those days live: slower, never wrong.
"""

from django.db import migrations, models


def clear(apps, schema_editor):
    apps.get_model("metrics", "RetractionRollup").objects.all().delete()
    apps.get_model("metrics", "RollupPeriod").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("metrics", "0002_nightly_schedule"),
    ]

    operations = [
        migrations.RunPython(clear, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="retractionrollup",
            name="rollup_unique",
        ),
        migrations.RemoveIndex(
            model_name="retractionrollup",
            name="rollup_tenant_span_day",
        ),
        migrations.AddField(
            model_name="retractionrollup",
            name="hours",
            field=models.PositiveSmallIntegerField(
                default=24,
                help_text="Day rows: the hours from midnight UTC covered (24: the whole day). Month rows: 24.",
            ),
        ),
        migrations.AddField(
            model_name="rollupperiod",
            name="hours",
            field=models.PositiveSmallIntegerField(
                default=24,
                help_text="Days: the hours from midnight UTC rolled up (24: the whole day).",
            ),
        ),
        migrations.AddIndex(
            model_name="retractionrollup",
            index=models.Index(
                fields=["tenant", "span", "hours", "day"], name="rollup_tenant_span_hours"
            ),
        ),
        migrations.AddIndex(
            model_name="retractionrollup",
            index=models.Index(
                fields=["span", "hours", "day", "tenant", "succeeded", "failed"],
                name="rollup_daily_series",
            ),
        ),
        migrations.AddConstraint(
            model_name="retractionrollup",
            constraint=models.UniqueConstraint(
                fields=("span", "hours", "day", "tenant"), name="rollup_unique_hours"
            ),
        ),
        # Going back: the old shape holds no hour rows; the nightly run refills it.
        migrations.RunPython(migrations.RunPython.noop, clear),
    ]
