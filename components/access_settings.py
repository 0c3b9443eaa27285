from .settings import AccessSettings, SecretsSettings  # noqa: F401 - the models of ams:access and ams:secrets live in settings.py
