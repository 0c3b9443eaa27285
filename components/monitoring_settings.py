from .settings import MonitoringSettings  # noqa: F401 - the model of ams:monitoring live in settings.py
