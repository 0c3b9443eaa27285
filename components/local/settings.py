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
            ports = self.model_dump(by_alias=True)
            first = {}
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


def pull_registry(image: str) -> str:
    """The registry a pull of ``image`` authenticates against, as the provider finds it: the first path component
    when the reference has more than two or it looks like a host (a dot, a port, localhost); "" for Docker Hub
    (kreuzwerker/terraform-provider-docker internal/provider/resource_docker_image_funcs.go `parseImageOptions`)."""
    first, slash, _ = image.partition("/")
    if not slash:
        return ""
    if image.count("/") > 1 or "." in first or ":" in first or first == "localhost":
        return first
    return ""


def _entry_host(entry: object) -> str:
    """The host a `docker:registryAuth` entry is stored under: its address without scheme or path (provider.go
    `providerSetToRegistryAuth`, `convertToHostname`)."""
    address = entry.get("address", "") if isinstance(entry, dict) else ""
    address = address.removeprefix("https://").removeprefix("http://")
    return address.split("/", 1)[0]


def missing_registry_logins(pulled: dict[str, str], registry_auth: object) -> list[str]:
    """One problem per registry the stack pulls app images from that `docker:registryAuth` has no entry for.

    The provider sends credentials only for registries listed there; an entry with an address alone reads them from
    the Docker CLI's config file (`~/.docker/config.json` or $DOCKER_CONFIG), where `docker login` put them
    (kreuzwerker/terraform-provider-docker internal/provider/provider.go `providerSetToRegistryAuth`;
    resource_docker_image_funcs.go `pullImage` looks the entry up by the image's registry). The app's images are
    private, so without an entry the pull is refused, after the data containers were created."""
    entries = registry_auth if isinstance(registry_auth, list) else []
    logged_in = {_entry_host(entry) for entry in entries}
    images_by_registry: dict[str, list[str]] = {}
    for component, image in sorted(pulled.items()):
        registry = pull_registry(image)
        if registry not in logged_in:
            images_by_registry.setdefault(registry, []).append(f"ams:delivery.images.{component} ({image})")
    problems = []
    for registry, images in sorted(images_by_registry.items()):
        shown = registry or "docker.io"
        login = f"docker login {shown}, then pulumi config set --path 'docker:registryAuth[0].address' {shown}"
        problems.append(
            f"docker:registryAuth: no entry for {shown}, the registry of {' and '.join(images)}, pulled because no "
            f"checkout is beside the project (ams:local.sources): run {login} (docs/local-development.md: Registry credentials)"
        )
    return problems


def refused_keys(raw: dict, environment: str) -> dict[str, str]:
    """``{key path: reason}`` for what the stack sets that its environment does not read."""
    if environment != "local":
        only_local = "only a local stack reads it (ams:environment: local); see docs/day-2.md: Day 2, ams:local"
        return {"local": only_local} if "local" in raw else {}
    reason = "a local stack runs on Docker and does not read it (docs/local-development.md lists what it reads): remove it"
    return {path: reason for path in _leaf_paths(raw) if not _read_locally(path)}


def _leaf_paths(value, path: str = ""):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_paths(item, f"{path}.{key}" if path else key)
    else:
        yield path


def _read_locally(path: str) -> bool:
    return path.split(".")[0] == "local" or any(path == key or path.startswith(f"{key}.") for key in SHARED_KEYS)
