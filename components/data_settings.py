from .settings import PROJECT_DIR, RESERVED_CONNECTIONS, DataSettings, Volume  # noqa: F401 - the models of ams:data live in settings.py
