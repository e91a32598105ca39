"""Create the hourly rollup's django-q2 schedule (visible and editable in the Tasks admin)."""

from datetime import UTC, datetime, timedelta

from django.db import migrations

NAME = "Metrics rollup (hourly)"
# Five minutes past every hour: the hour before is over and its attempts have committed.
MINUTE = 5


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    now = datetime.now(UTC)
    next_run = now.replace(minute=MINUTE, second=0, microsecond=0)
    if next_run <= now:
        next_run += timedelta(hours=1)
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "metrics.tasks.rollup_hourly",
            "schedule_type": "H",  # hourly, from next_run
            "repeats": -1,
            "next_run": next_run,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0003_rollup_hours"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
