from .settings import DeliverySettings  # noqa: F401 - the model of ams:delivery live in settings.py
