"""Create the nightly rollup's django-q2 schedule (visible and editable in the Tasks admin)."""

from datetime import UTC, datetime, time, timedelta

from django.db import migrations

NAME = "Metrics rollup (nightly)"
# Half an hour after midnight UTC: the day is over, and attempts that were still being
# written at midnight have committed (the run also rechecks the days before).
RUN_AT = time(0, 30, tzinfo=UTC)


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = datetime.now(UTC)
    next_run = datetime.combine(now.date(), RUN_AT)
    if next_run <= now:
        next_run += timedelta(days=1)
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "metrics.tasks.rollup_nightly",
            "schedule_type": "D",  # daily, at next_run's time of day
            "repeats": -1,
            "next_run": next_run,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_rollups"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
