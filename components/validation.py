from .settings import Resources, Volume, image_problem, parse_quantity  # noqa: F401 - the constrained types and checks live in settings.py
