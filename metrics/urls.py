"""Metrics API routes, included under /api/v1/metrics/ by config/api_urls.py."""

from __future__ import annotations

from django.urls import path

from metrics.api import RetractionMetricsView

urlpatterns = [
    path("retractions/", RetractionMetricsView.as_view(), name="metrics-retractions"),
]
