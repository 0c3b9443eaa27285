"""LocalStack: the whole AMS on a developer's Docker (pulumi-docker), in place of the seed's docker-compose.

Provider behaviour this relies on, read in kreuzwerker/terraform-provider-docker v4.5.0, the newest release stored
(internal/provider/resource_docker_container_funcs.go); pulumi-docker 5.2.0 wraps a later one, whose schema adds the
uploads' `owner` and `group` (pulumi_docker ContainerUploadArgs):
- `wait=True` polls the container's health once a second and finishes creating it only when Docker reports it
  healthy (an error after `wait_timeout`). Whatever depends on it therefore starts after it is healthy.
- `attach=True` waits for the container to exit and records `exit_code`, but a non-zero exit is not an error:
  `succeeded()` turns it into one. `must_run=False` keeps the next `up` from starting a finished one-shot again,
  and nothing reruns a failed one but a change of its inputs or `pulumi up --replace` (Update only starts a
  container whose `must_run` turned true), so the error names that command.
- `uploads` are copied into the container before it starts (secrets as files, not in the container's configuration
  that `docker inspect` shows); they, the image, env, command, ports, volumes and labels all replace the container
  when changed.
  `healthcheck` does not (resource_docker_container.go: not ForceNew, and Update ignores it): replace_on_changes.
- Port `ip` is the host address the port is bound to (`portBinding.HostIP`), so 127.0.0.1 keeps them local.
- Delete stops a container with `destroy_grace_seconds` as the timeout, 0 when unset (`resourceDockerContainerDelete`):
  a kill. Long-running services get STOP_GRACE_SECONDS to shut down cleanly on a replace or a destroy.
- `image`, `user` and `volumes` replace a container; a volume's `name` replaces the volume. An input unknown at preview
  is planned as a change, so a preview is truthful only when the image ID is known then (BUILD_ON_PREVIEW).

pulumi/pulumi-docker's own `Image` (provider/provider.go `Check`, `canPreview`; provider/image.go `dockerBuild`): the
context's digest is an input, so any edit of a checkout updates the image; with `buildOnPreview` the preview builds it
(from the layer cache) and reports the local image ID as `repoDigest`, otherwise the ID stays unknown until `up`.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from ..validation import DOCKERFILES
from .args import LocalStackArgs

HERE = Path(__file__).resolve().parent
DB_NAME = DB_USER = "ams"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
S3_PORT = 8333
PROXY_PORT = 8080  # nginx-unprivileged listens on 8080 (nginx/docker-nginx-unprivileged stable/alpine Dockerfile)
WEB_PORTS = {"release": 8080, "development": 3000}  # the release image's nginx; the Vite dev server (docker/web)
# The seed's development commands for the worker (docker-compose `worker`); the api's and the web's are their
# development images' CMD (docker/api/Dockerfile, docker/web/Dockerfile).
WORKER_DEV_COMMAND = ["npm", "run", "worker:dev"]
# Uploaded secrets: readable by the user each image's entrypoint drops to (docker-library/postgres
# 17/alpine3.23/Dockerfile: uid 70; redis alpine: uid 999; seaweedfs docker/Dockerfile.go_build: uid 1000).
POSTGRES_UID = "70"
REDIS_UID = "999"
SEAWEEDFS_UID = "1000"
DROP_ALL = {"drops": ["ALL"]}
STOP_GRACE_SECONDS = 30  # PostgreSQL's fast shutdown, Redis's AOF fsync and SeaweedFS closing its volumes
# A source edit updates the development image; built at preview, its ID is known there, so the preview shows the
# containers and the node_modules volume unchanged when the ID did not change (see the module docstring).
BUILD_ON_PREVIEW = True


def succeeded(name: str, container: docker.Container) -> pulumi.Output[str]:
    """The one-shot container's ID once it has exited 0; the update fails when it exited otherwise."""
    outcome = pulumi.Output.all(container.id, container.exit_code, container.urn)
    return outcome.apply(lambda args: require_exit_zero(name, *args))


def require_exit_zero(name: str, container_id: str, exit_code: int | None, urn: str) -> str:
    if exit_code != 0:
        # The failed container stays in the state, exit code included: without --replace it is not run again.
        again = f"run it again with `pulumi up --replace '{urn}'`"
        raise RuntimeError(f"{name} exited with {exit_code}: see `docker logs {name}`, fix the cause and {again}")
    return container_id


class LocalStack(pulumi.ComponentResource):
    """Creates on the local Docker engine: one bridge network; named volumes for PostgreSQL, Redis and object
    storage; PostgreSQL, Redis and SeaweedFS (S3) with health checks; a one-shot bucket creation and a one-shot
    migration; the api, the worker and the web (development builds of the checkouts with the source mounted, else
    the release images); and an nginx proxy on 127.0.0.1 that routes `/api` and `/` as the cluster's edge does.
    Credentials are generated per stack and reach the containers as files or environment variables only.

    Needs: the local settings, the stack name, what runs the backend and the web, the data images and bucket, the
    edge's body size and the optional configured JWT secrets.
    """

    url: pulumi.Output[str]
    api_url: pulumi.Output[str]
    database_url: pulumi.Output[str]  # secret: from the developer's machine
    redis_url: pulumi.Output[str]  # secret
    object_storage: pulumi.Output[dict]  # secret: endpoint, bucket, region and keys

    def __init__(self, name: str, args: LocalStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:LocalStack", name, None, opts)
        self._name = name
        self._args = args
        self._prefix = f"ams-{args.stack}"
        self._mounts: dict[str, list[dict]] = {}
        self._network = docker.Network(f"{name}-network", name=self._prefix, driver="bridge", opts=self._opts())
        self._passwords = {
            "db": self._password("db-password", 32),
            "redis": self._password("redis-password", 32),
            "s3": self._password("s3-secret-key", 40),
            "jwt-access": args.jwt_access_secret or self._password("jwt-access", 64),
            "jwt-refresh": args.jwt_refresh_secret or self._password("jwt-refresh", 64),
        }
        # An access key ID in the usual shape (20 upper-case letters and digits), secret like the key it goes with.
        access_key = random.RandomString(
            f"{name}-s3-access-key", length=20, special=False, lower=False, opts=self._opts(additional_secret_outputs=["result"])
        )
        self._s3_access_key = pulumi.Output.secret(access_key.result)
        postgres = self._postgres()
        redis = self._redis()
        storage = self._object_storage()
        buckets = self._buckets(storage)
        backend = self._backend_image()
        migration = self._migration(backend, postgres)
        api = self._api(backend, [redis, storage], migration, buckets)
        self._worker(backend, [redis, storage], migration, buckets)
        web, web_port = self._web()
        self._proxy(api, web, web_port)

        ports = args.local.ports
        self.url = pulumi.Output.from_input(f"http://localhost:{ports.proxy}")
        self.api_url = pulumi.Output.from_input(f"http://localhost:{ports.proxy}/api")
        self.database_url = self._database_url(f"localhost:{ports.postgres}")
        self.redis_url = self._redis_url(f"localhost:{ports.redis}")
        self.object_storage = pulumi.Output.secret(
            {
                "endpoint": f"http://localhost:{ports.object_storage}",
                "bucket": args.data.app_bucket,
                "region": args.data.region,
                "accessKeyId": self._s3_access_key,
                "secretAccessKey": self._passwords["s3"],
            }
        )
        self.register_outputs({"url": self.url, "api_url": self.api_url})

    # --- data -------------------------------------------------------------------------------------

    def _postgres(self) -> docker.Container:
        volumes = [self._volume("postgres-data", "/var/lib/postgresql/data")]
        init_sql = self._args.data.init_sql
        if init_sql:
            # The entrypoint runs /docker-entrypoint-initdb.d/*.sql once, on an empty data directory
            # (docker-library/postgres 17/alpine3.23/docker-entrypoint.sh `docker_process_init_files`).
            volumes.append(
                {"host_path": str(init_sql), "container_path": "/docker-entrypoint-initdb.d/init.sql", "read_only": True}
            )
        return self._service(
            "postgres",
            self._remote_image("postgres", self._args.local.images.postgres),
            envs=[f"POSTGRES_USER={DB_USER}", f"POSTGRES_DB={DB_NAME}", "POSTGRES_PASSWORD_FILE=/etc/postgres-password"],
            uploads=[self._secret_file("/etc/postgres-password", self._passwords["db"], POSTGRES_UID)],
            volumes=volumes,
            ports=[(self._args.local.ports.postgres, POSTGRES_PORT)],
            # Over TCP: the entrypoint's initialisation server listens on the socket only (`docker_temp_server_start`
            # sets listen_addresses=''), so this is the real server, after the init SQL ran.
            health=["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT), "-U", DB_USER, "-d", DB_NAME],
            wait_timeout=180,
        )

    def _redis(self) -> docker.Container:
        config = self._passwords["redis"].apply(lambda password: _data_file("redis.conf", PASSWORD=password))
        # redis-cli reads the password from REDISCLI_AUTH (redis/redis src/redis-cli.c): set for the check alone.
        ping = 'REDISCLI_AUTH="$(sed -n "s/^requirepass //p" /etc/redis.conf)" redis-cli ping | grep -q PONG'
        return self._service(
            "redis",
            self._remote_image("redis", self._args.data.redis_image),
            # The image's entrypoint runs redis-server with a first argument ending in .conf, as its own user
            # (redis/docker-library-redis docker-entrypoint.sh).
            command=["/etc/redis.conf"],
            uploads=[self._secret_file("/etc/redis.conf", config, REDIS_UID)],
            volumes=[self._volume("redis-data", "/data")],
            ports=[(self._args.local.ports.redis, REDIS_PORT)],
            health=["CMD-SHELL", ping],
        )

    def _object_storage(self) -> docker.Container:
        """SeaweedFS with the cluster's flags; the image's entrypoint adds `-dir=/data` and drops to its own user
        (seaweedfs/seaweedfs docker/entrypoint.sh, `server)`)."""
        identities = pulumi.Output.json_dumps(
            {
                "identities": [
                    {
                        "name": "ams",
                        "credentials": [{"accessKey": self._s3_access_key, "secretKey": self._passwords["s3"]}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
        return self._service(
            "s3",
            self._remote_image("object-storage", self._args.data.object_storage_image),
            command=[
                "server",
                "-ip.bind=0.0.0.0",
                "-master.volumeSizeLimitMB=1024",
                "-volume.max=0",
                "-s3",
                f"-s3.port={S3_PORT}",
                "-s3.config=/etc/seaweedfs/s3.json",
                "-master.telemetry=false",
            ],
            # As in the cluster: one new volume at a time, so one bucket cannot take every volume slot.
            envs=["WEED_MASTER_VOLUME_GROWTH_COPY_1=1"],
            uploads=[self._secret_file("/etc/seaweedfs/s3.json", identities, SEAWEEDFS_UID)],
            volumes=[self._volume("object-storage-data", "/data")],
            ports=[(self._args.local.ports.object_storage, S3_PORT)],
            # seaweedfs weed/s3api/s3api_server.go serves /healthz on the S3 port; the image has busybox wget.
            health=["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{S3_PORT}/healthz"],
            wait_timeout=120,
        )

    def _buckets(self, storage: docker.Container) -> pulumi.Output[str]:
        """The app's bucket, created once (idempotent, as the cluster's bucket Job)."""
        data = self._args.data
        script = (
            'aws --endpoint-url "$ENDPOINT" s3api head-bucket --bucket "$BUCKET" '
            '|| aws --endpoint-url "$ENDPOINT" s3api create-bucket --bucket "$BUCKET"'
        )
        credentials = pulumi.Output.format(
            "[default]\naws_access_key_id = {0}\naws_secret_access_key = {1}\n", self._s3_access_key, self._passwords["s3"]
        )
        job = self._one_shot(
            "buckets",
            self._remote_image("bucket-job", data.bucket_job_image),
            entrypoints=["/bin/sh", "-c", script],
            envs=[
                f"ENDPOINT=http://s3:{S3_PORT}",
                f"BUCKET={data.app_bucket}",
                f"AWS_DEFAULT_REGION={data.region}",
                "AWS_SHARED_CREDENTIALS_FILE=/aws/credentials",
            ],
            uploads=[self._secret_file("/aws/credentials", credentials, "0")],
            after=[storage],
        )
        return succeeded(f"{self._prefix}-buckets", job)

    # --- app --------------------------------------------------------------------------------------

    def _backend_image(self) -> pulumi.Output[str]:
        backend = self._args.backend
        if backend.source:
            return self._development_build("api", backend.source)
        return self._remote_image("backend", backend.release_image)

    def _backend_env(self) -> list:
        data = self._args.data
        return [
            f"NODE_ENV={'development' if self._args.backend.source else 'production'}",
            pulumi.Output.concat("DATABASE_URL=", self._database_url(f"postgres:{POSTGRES_PORT}")),
            pulumi.Output.concat("DATABASE_READ_URL=", self._database_url(f"postgres:{POSTGRES_PORT}")),
            pulumi.Output.concat("REDIS_URL=", self._redis_url(f"redis:{REDIS_PORT}")),
            f"S3_ENDPOINT=http://s3:{S3_PORT}",
            f"S3_BUCKET={data.app_bucket}",
            f"S3_REGION={data.region}",
            pulumi.Output.concat("S3_ACCESS_KEY_ID=", self._s3_access_key),
            pulumi.Output.concat("S3_SECRET_ACCESS_KEY=", self._passwords["s3"]),
        ]

    def _migration(self, image: pulumi.Output[str], postgres: docker.Container) -> pulumi.Output[str]:
        """The cluster's migration Job as a one-shot: straight to PostgreSQL, before the api and the worker start."""
        backend = self._args.backend
        job = self._one_shot(
            "migrate",
            image,
            command=list(backend.migration_command),
            envs=[pulumi.Output.concat("DATABASE_URL=", self._database_url(f"postgres:{POSTGRES_PORT}"))],
            volumes=self._source_mounts("api", backend.source, image),
            user=self._mount_owner(backend.source),
            after=[postgres],
        )
        return succeeded(f"{self._prefix}-migrate", job)

    def _api(self, image, data: list, migration, buckets) -> docker.Container:
        backend = self._args.backend
        return self._service(
            "api",
            image,
            envs=[
                *self._backend_env(),
                f"PORT={backend.api_port}",
                pulumi.Output.concat("JWT_ACCESS_SECRET=", self._passwords["jwt-access"]),
                pulumi.Output.concat("JWT_REFRESH_SECRET=", self._passwords["jwt-refresh"]),
            ],
            volumes=self._source_mounts("api", backend.source, image),
            user=self._mount_owner(backend.source),
            health=["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{backend.api_port}/health/ready"],
            wait_timeout=300,
            after=data,
            gates={"migration": migration, "buckets": buckets},
            capabilities=DROP_ALL,
        )

    def _worker(self, image, data: list, migration, buckets) -> docker.Container:
        backend = self._args.backend
        return self._service(
            "worker",
            image,
            command=WORKER_DEV_COMMAND if backend.source else list(backend.worker_command),
            envs=self._backend_env(),
            volumes=self._source_mounts("api", backend.source, image),
            user=self._mount_owner(backend.source),
            health=["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{backend.worker_health_port}/health"],
            wait=False,
            after=data,
            gates={"migration": migration, "buckets": buckets},
            capabilities=DROP_ALL,
        )

    def _web(self) -> tuple[docker.Container, int]:
        web = self._args.web
        if web.source:
            image = self._development_build("web", web.source)
            port = WEB_PORTS["development"]
        else:
            image = self._remote_image("web", web.release_image)
            port = WEB_PORTS["release"]
        container = self._service(
            "web",
            image,
            envs=["VITE_API_URL=/api"] if web.source else [],
            volumes=self._source_mounts("web", web.source, image),
            user=self._mount_owner(web.source),
            capabilities=DROP_ALL,
        )
        return container, port

    def _proxy(self, api: docker.Container, web: docker.Container, web_port: int) -> docker.Container:
        args = self._args
        config = _data_file(
            "proxy.conf",
            LISTEN_PORT=str(PROXY_PORT),
            BODY_SIZE=args.body_size,
            API_PORT=str(args.backend.api_port),
            WEB_PORT=str(web_port),
        )
        return self._service(
            "proxy",
            self._remote_image("proxy", args.local.images.proxy),
            uploads=[{"file": "/etc/nginx/conf.d/default.conf", "content": config, "permissions": "0444"}],
            ports=[(args.local.ports.proxy, PROXY_PORT)],
            after=[api, web],
            capabilities=DROP_ALL,
        )

    # --- building blocks --------------------------------------------------------------------------

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _password(self, suffix: str, length: int) -> pulumi.Output[str]:
        # Alphanumeric only: the values go into URLs and config files without escaping. Secret by declaration, not
        # only by the provider's schema: everything built from it (URLs, env, uploads, outputs) stays secret.
        password = random.RandomPassword(f"{self._name}-{suffix}", length=length, special=False, opts=self._opts())
        return pulumi.Output.secret(password.result)

    def _database_url(self, address: str) -> pulumi.Output[str]:
        return pulumi.Output.format("postgresql://{0}:{1}@{2}/{3}", DB_USER, self._passwords["db"], address, DB_NAME)

    def _redis_url(self, address: str) -> pulumi.Output[str]:
        return pulumi.Output.format("redis://:{0}@{1}/0", self._passwords["redis"], address)

    def _remote_image(self, suffix: str, name: str) -> pulumi.Output[str]:
        # keep_locally: a destroy leaves pulled images to Docker, which other projects may share.
        image = docker.RemoteImage(f"{self._name}-{suffix}-image", name=name, keep_locally=True, opts=self._opts())
        return image.image_id

    def _development_build(self, component: str, source: Path) -> pulumi.Output[str]:
        """The checkout's development image (docker/<component>/Dockerfile, target `development`), never pushed.
        pulumi-docker hashes the whole context and rebuilds on any change, but the stage copies only the dependency
        manifests (the source is mounted): the image ID, and so the containers, change only with the dependencies."""
        built = docker.Image(
            f"{self._name}-{component}-dev",
            image_name=f"{self._prefix}-{component}:development",
            build={"context": str(source), "dockerfile": str(DOCKERFILES[component]), "target": "development"},
            skip_push=True,
            build_on_preview=BUILD_ON_PREVIEW,
            opts=self._opts(),
        )
        # With skip_push the provider reports the local image ID here (pulumi-docker provider/image.go `dockerBuild`).
        return built.repo_digest

    def _volume(self, suffix: str, path: str, name: pulumi.Input[str] | None = None) -> dict:
        volume = docker.Volume(f"{self._name}-{suffix}", name=name or f"{self._prefix}-{suffix}", opts=self._opts())
        return {"volume_name": volume.name, "container_path": path}

    def _source_mounts(self, component: str, source: Path | None, image: pulumi.Output[str]) -> list[dict]:
        """The checkout over /app for hot reload, and node_modules in a volume of the image's own (Linux) modules.
        Docker fills a volume from the image only while the volume is empty (docs.docker.com/engine/storage/volumes,
        "Populate a volume using a container"), so the volume is named after the image ID: a new image (dependencies,
        the generated Prisma client, the Node version) gets a fresh volume instead of the previous image's modules."""
        if source is None:
            return []
        if component not in self._mounts:  # the api, the worker and the migration share one volume
            suffix = f"{component}-node-modules"
            name = image.apply(lambda image_id: f"{self._prefix}-{suffix}-{image_id.removeprefix('sha256:')[:12]}")
            modules = self._volume(suffix, "/app/node_modules", name)
            self._mounts[component] = [{"host_path": str(source), "container_path": "/app"}, modules]
        return self._mounts[component]

    def _mount_owner(self, source: Path | None) -> str | None:
        """Who a container with the checkout mounted runs as: the checkout's owner, so that the app's watcher can write
        its build output there (a bind mount keeps the host's uids). The development images need no user of their
        own: HOME and npm's cache point at /tmp, and what the dev servers write under node_modules is open to any uid
        (docker/api/Dockerfile, docker/web/Dockerfile, target `development`)."""
        if source is None:
            return None
        return self._args.developer

    def _secret_file(self, path: str, content: pulumi.Input[str], owner: str) -> dict:
        return {"file": path, "content": pulumi.Output.secret(content), "owner": owner, "group": owner, "permissions": "0400"}

    def _container(self, suffix: str, image, *, after=(), gates: dict | None = None, **kwargs) -> docker.Container:
        labels = [{"label": "com.suresoft.ams.stack", "value": self._args.stack}]
        labels += [{"label": f"com.suresoft.ams.after-{what}", "value": gate} for what, gate in (gates or {}).items()]
        return docker.Container(
            f"{self._name}-{suffix}",
            name=f"{self._prefix}-{suffix}",
            image=image,
            networks_advanced=[{"name": self._network.name, "aliases": [suffix]}],
            labels=labels,
            security_opts=["no-new-privileges:true"],
            opts=self._opts(depends_on=list(after), replace_on_changes=["healthcheck"]),
            **kwargs,
        )

    def _service(self, suffix, image, *, ports=(), health=None, wait=True, wait_timeout=60, **kwargs) -> docker.Container:
        """A long-running container, restarted with Docker; with `health`, created only once it is healthy."""
        check = {"tests": health, "interval": "5s", "timeout": "3s", "retries": 10, "start_period": "10s"} if health else None
        return self._container(
            suffix,
            image,
            restart="unless-stopped",
            destroy_grace_seconds=STOP_GRACE_SECONDS,
            ports=[{"internal": inside, "external": outside, "ip": "127.0.0.1"} for outside, inside in ports],
            healthcheck=check,
            wait=bool(health) and wait,
            wait_timeout=wait_timeout if health and wait else None,
            **kwargs,
        )

    def _one_shot(self, suffix, image, **kwargs) -> docker.Container:
        """Runs to completion during `pulumi up` and is kept for `docker logs`; never started again."""
        return self._container(suffix, image, attach=True, must_run=False, restart="no", capabilities=DROP_ALL, **kwargs)


def _data_file(name: str, **values: str) -> str:
    """A data file of this folder with its @NAME@ placeholders filled in."""
    text = (HERE / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text
