from django.apps import AppConfig


class RetractionConfig(AppConfig):
    name = "retraction"
    verbose_name = "Retraction"
