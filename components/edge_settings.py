from .settings import DEFAULT_CONTROLLER_NAMESPACE, EdgeSettings  # noqa: F401 - the model of ams:ingress live in settings.py
