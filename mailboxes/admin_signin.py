"""The sign-in apps' admin pages, with what their releases get wrong put right."""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone


class ClawbackAccessAttemptAdmin(AccessAttemptAdmin):
    @admin.action(description="Clean up expired attempts")
    def cleanup_expired_attempts(self, request: HttpRequest, queryset: Any) -> None:
        # django-axes 8.3 reads request.axes_attempt_time, which only sign-in requests
        # carry: from the admin the action raised AttributeError (a 500).
        request.axes_attempt_time = timezone.now()
        super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, ClawbackAccessAttemptAdmin)
