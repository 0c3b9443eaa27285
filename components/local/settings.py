"""Settings of the local tier: `ams:local` (a developer's Docker: published ports, source checkouts, images)."""

from ..validation import Image, Model, Port

# What a local stack reads besides `ams:local`; every other key configures Kubernetes and is refused there.
SHARED_KEYS = (
    "environment",
    "jwtAccessSecret",
    "jwtRefreshSecret",
    "app.api.port",
    "app.worker.command",
    "app.worker.healthPort",
    "app.migration.command",
    "data.postgres.initSqlFile",
    "data.redis.image",
    "data.objectStorage.image",
    "data.objectStorage.appBucket",
    "data.objectStorage.bucketJobImage",
    "delivery.images",
)


class LocalSettings(Model):
    class Ports(Model):  # published on 127.0.0.1 only
        proxy: Port
        postgres: Port
        redis: Port
        object_storage: Port

        def rules(self):
            ports, first = self.model_dump(by_alias=True), {}
            for key, port in ports.items():
                first.setdefault(port, key)
            return {key: first[port] != key and f"must differ from {first[port]} ({port})" for key, port in ports.items()}

    class Sources(Model):  # checkouts, relative to the project: built for development and mounted when present
        backend: str
        frontend: str

    class Images(Model):
        postgres: Image  # the official image: its entrypoint creates the database and runs the init SQL
        proxy: Image

    ports: Ports
    sources: Sources
    images: Images


def refused_keys(raw: dict, environment: str) -> dict[str, str]:
    """``{key path: reason}`` for what the stack sets that its environment does not read."""
    if environment != "local":
        only_local = "only a local stack reads it (ams:environment: local); see README: Day 2, ams:local"
        return {"local": only_local} if "local" in raw else {}
    reason = "a local stack runs on Docker and does not read it (README: Local development lists what it reads): remove it"
    return {path: reason for path in _leaf_paths(raw) if not _read_locally(path)}


def _leaf_paths(value, path: str = ""):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, f"{path}.{key}" if path else key)
    else:
        yield path


def _read_locally(path: str) -> bool:
    return path.split(".")[0] == "local" or any(path == key or path.startswith(f"{key}.") for key in SHARED_KEYS)
