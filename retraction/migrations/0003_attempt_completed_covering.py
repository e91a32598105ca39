"""Finished-attempt indexes that also hold status and action.

The Retractions card's live scan and its "View details" list (a count capped at
10,001 rows, then the newest 50) filter finished attempts on completed_at, status
and action: with all three in the index, the count reads no table rows. The new
indexes are built before the old ones go, so queries always have one.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0001_initial"),
        ("retraction", "0002_sweeper_schedule"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="retractionattempt",
            index=models.Index(
                fields=["tenant", "completed_at", "status", "action"],
                name="attempt_tenant_completed_st",
            ),
        ),
        migrations.AddIndex(
            model_name="retractionattempt",
            index=models.Index(
                fields=["completed_at", "status", "action"], name="attempt_completed_st"
            ),
        ),
        migrations.RemoveIndex(
            model_name="retractionattempt",
            name="attempt_tenant_completed",
        ),
        migrations.RemoveIndex(
            model_name="retractionattempt",
            name="attempt_completed",
        ),
    ]
