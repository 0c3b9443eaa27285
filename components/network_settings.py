from .settings import NetworkSettings  # noqa: F401 - the model of ams:network live in settings.py
