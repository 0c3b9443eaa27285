"""What LocalStack is given: the backend, the web, the data images, and where the developer's checkouts are."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi

from .settings import LocalSettings


@dataclass(frozen=True)
class Backend:
    """The api, the worker and the migration: one image, the release one or a development build of `source`."""

    release_image: str
    source: Path | None  # a checkout: built with the development target and mounted for hot reload
    api_port: int
    worker_command: Sequence[str]
    worker_health_port: int
    migration_command: Sequence[str]


@dataclass(frozen=True)
class Web:
    release_image: str
    source: Path | None


@dataclass(frozen=True)
class Data:
    redis_image: str
    object_storage_image: str
    bucket_job_image: str
    app_bucket: str
    region: str
    init_sql: Path | None  # run once by the postgres image on an empty database


@dataclass(frozen=True)
class LocalStackArgs:
    local: LocalSettings
    stack: str
    backend: Backend
    web: Web
    data: Data
    body_size: str  # the edge's request body limit, as in the cluster
    # From `pulumi config set --secret ams:jwtAccessSecret ...`; None means generate one.
    jwt_access_secret: pulumi.Output[str] | None = None
    jwt_refresh_secret: pulumi.Output[str] | None = None
    # "uid:gid" the development containers run as, so that they write into the mounted checkout as its owner does;
    # None keeps the images' `node` user (1000).
    developer: str | None = None


def host_user() -> str | None:
    """The developer's "uid:gid" where the OS has them (Linux, macOS); None on Windows, where Docker Desktop owns
    bind mounts for any container user."""
    if not hasattr(os, "getuid"):
        return None
    return f"{os.getuid()}:{os.getgid()}"


def checkout(project_dir: Path, relative: str) -> Path | None:
    """The source checkout at `relative` (to the project), when there is one."""
    path = (project_dir / relative).resolve() if relative else None
    return path if path and (path / "package.json").is_file() else None
