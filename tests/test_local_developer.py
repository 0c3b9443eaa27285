"""A new developer's first runs of the local stack: pulling the private app images after `docker login`, and a
checkout owned by any uid on Linux. The provider rules are cited in components/local/settings.py
(`missing_registry_logins`, `pull_registry`) and components/local/stack.py."""

from __future__ import annotations

import os
import re

import pytest

from components.local.settings import missing_registry_logins, pull_registry
from components.settings import SettingsError
from tests.conftest import PROJECT_DIR, stack_config, with_overrides
from tools import runner

CONTAINER = "docker:index/container:Container"
NO_CHECKOUTS = {"ams:local.sources": {"backend": "", "frontend": ""}}
WITHOUT_LOGIN = {"docker:registryAuth": None}


def local_render(overrides: dict) -> runner.Render:
    return runner.run("local", with_overrides(stack_config("local"), overrides))


def refusal(overrides: dict) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        local_render(overrides)
    return raised.value.problems


def checkout(directory) -> str:
    directory.mkdir()
    (directory / "package.json").write_text("{}")
    return str(directory)


def users(render: runner.Render) -> dict[str, str | None]:
    return {r.inputs["name"]: r.inputs.get("user") for r in render.by_type(CONTAINER)}


# --- the private images -----------------------------------------------------------------------------------------


def test_the_committed_local_stack_logs_in_to_the_app_images_registry():
    """The one config step is in the stack file: an address-only entry, whose credentials `docker login` wrote."""
    assert stack_config("local")["docker:registryAuth"] == [{"address": "ghcr.io"}]
    render = local_render(NO_CHECKOUTS)
    pulled = {r.inputs["name"] for r in render.by_type("docker:index/remoteImage:RemoteImage")}
    assert {"ghcr.io/suresoft/ams-api:1.0.0", "ghcr.io/suresoft/ams-web:1.0.0"} <= pulled


def test_without_the_entry_the_stack_stops_before_creating_anything_and_names_the_step():
    problems = refusal({**NO_CHECKOUTS, **WITHOUT_LOGIN})
    assert problems == [
        "docker:registryAuth: no entry for ghcr.io, the registry of ams:delivery.images.api "
        "(ghcr.io/suresoft/ams-api:1.0.0) and ams:delivery.images.web (ghcr.io/suresoft/ams-web:1.0.0), pulled because "
        "no checkout is beside the project (ams:local.sources): run docker login ghcr.io, then pulumi config set "
        "--path 'docker:registryAuth[0].address' ghcr.io (docs/local-development.md: Registry credentials)"
    ]


def test_with_both_checkouts_nothing_private_is_pulled_and_no_login_is_needed(tmp_path):
    sources = {"backend": checkout(tmp_path / "backend"), "frontend": checkout(tmp_path / "frontend")}
    render = local_render({"ams:local.sources": sources, **WITHOUT_LOGIN})
    pulled = {r.inputs["name"] for r in render.by_type("docker:index/remoteImage:RemoteImage")}
    assert not any(image.startswith("ghcr.io/") for image in pulled)


def test_one_checkout_leaves_the_other_image_to_pull(tmp_path):
    sources = {"backend": checkout(tmp_path / "backend"), "frontend": ""}
    [problem] = refusal({"ams:local.sources": sources, **WITHOUT_LOGIN})
    assert "ams:delivery.images.web (ghcr.io/suresoft/ams-web:1.0.0)" in problem and "images.api" not in problem


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("ghcr.io/suresoft/ams-api:1.0.0", "ghcr.io"),
        ("registry.example:5000/team/api:2", "registry.example:5000"),
        ("localhost/api:dev", "localhost"),
        ("redis:8.10.1-alpine3.23", ""),  # Docker Hub's library
        ("chrislusf/seaweedfs:4.44", ""),  # a Docker Hub user: one slash, no host-like prefix
        ("team/group/api:1", "team"),  # more than two components: the first is the registry, as the provider reads it
    ],
)
def test_the_registry_of_a_pull_is_found_as_the_provider_finds_it(image, registry):
    assert pull_registry(image) == registry


@pytest.mark.parametrize(
    "entries",
    [[{"address": "ghcr.io"}], [{"address": "https://ghcr.io"}], [{"address": "docker.io"}, {"address": "ghcr.io/"}]],
)
def test_an_entry_in_any_spelling_of_the_host_counts(entries):
    assert missing_registry_logins({"api": "ghcr.io/suresoft/ams-api:1.0.0"}, entries) == []


def test_an_entry_for_another_registry_does_not():
    [problem] = missing_registry_logins({"api": "ghcr.io/suresoft/ams-api:1.0.0"}, [{"address": "docker.io"}])
    assert problem.startswith("docker:registryAuth: no entry for ghcr.io,")


# --- any uid ------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="uids exist on Linux and macOS; Windows has none to map")
def test_a_developer_with_uid_1234_runs_the_mounted_containers_as_themselves(tmp_path, monkeypatch):
    """The api's watcher writes dist/ into the mounted checkout: as the image's `node` (1000) it cannot when the
    checkout belongs to another uid, the api never turns healthy, and `up` times out. So the containers that mount
    a checkout run as the developer; the data containers and the proxy keep their images' users."""
    monkeypatch.setattr(os, "getuid", lambda: 1234)
    monkeypatch.setattr(os, "getgid", lambda: 1234)
    sources = {"backend": checkout(tmp_path / "backend"), "frontend": checkout(tmp_path / "frontend")}
    render = local_render({"ams:local.sources": sources})
    assert users(render) == {
        "ams-local-api": "1234:1234",
        "ams-local-worker": "1234:1234",
        "ams-local-migrate": "1234:1234",
        "ams-local-web": "1234:1234",
        "ams-local-postgres": None,
        "ams-local-redis": None,
        "ams-local-s3": None,
        "ams-local-buckets": None,
        "ams-local-proxy": None,
    }


def test_release_images_keep_their_own_users(monkeypatch):
    monkeypatch.setattr(os, "getuid", lambda: 1234, raising=False)
    monkeypatch.setattr(os, "getgid", lambda: 1234, raising=False)
    render = local_render(NO_CHECKOUTS)
    assert set(users(render).values()) == {None}


def development_stage(component: str) -> str:
    text = (PROJECT_DIR / "docker" / component / "Dockerfile").read_text()
    return text.split(" AS development", 1)[1].split("\nFROM ", 1)[0]


@pytest.mark.parametrize("component", ["api", "web"])
def test_the_development_images_need_no_home_of_their_own(component):
    """Run as a uid the image does not know, HOME would be `/` (not writable): npm's cache and logs go to /tmp."""
    stage = development_stage(component)
    assert re.search(r"^\s+HOME=/tmp\b", stage, re.MULTILINE), stage
    assert re.search(r"^\s+NPM_CONFIG_CACHE=/tmp/\.npm\b", stage, re.MULTILINE), stage


def test_vites_dependency_cache_is_writable_by_any_uid():
    """The volume over node_modules is filled from the image as `node` owns it; the Vite dev server writes its
    pre-bundled dependencies to node_modules/.vite (its default cacheDir), so that directory is open to every uid."""
    stage = development_stage("web")
    assert re.search(r"mkdir -p node_modules/\.vite\s*\\?\s*&& chmod 1777 node_modules/\.vite", stage), stage


# --- a preview after a source edit ----------------------------------------------------------------------------------


def test_a_preview_after_a_source_edit_shows_the_containers_and_volumes_as_the_update_leaves_them(tmp_path):
    """An edit of a checkout changes only the build context, which pulumi-docker digests itself (provider.go `Check`),
    so the program's inputs are those of the last `up`. What differs at preview is what is unknown there: built during
    the preview (buildOnPreview), the development image's ID is known, so every container (`image` replaces one) and
    the node_modules volumes (named after the ID; `name` replaces a volume) come out exactly as the update leaves
    them: unchanged. Without it they would read `<unknown>`, which the engine plans as a replace."""
    sources = {"backend": checkout(tmp_path / "backend"), "frontend": checkout(tmp_path / "frontend")}
    config = with_overrides(stack_config("local"), {"ams:local.sources": sources})
    applied = runner.run("local", config)
    previewed = runner.run("local", config, preview=True)
    builds = previewed.by_type("docker:index/image:Image")
    assert [build.inputs["buildOnPreview"] for build in builds] == [True, True]
    for type_token in (CONTAINER, "docker:index/volume:Volume"):
        before = {r.name: r.inputs for r in applied.by_type(type_token)}
        after = {r.name: r.inputs for r in previewed.by_type(type_token)}
        assert after == before, type_token
    volume_names = {r.inputs["name"] for r in previewed.by_type("docker:index/volume:Volume")}
    assert runner.UNKNOWN not in volume_names and len([n for n in volume_names if "node-modules" in n]) == 2


def test_the_runner_models_an_image_not_built_at_preview_as_unknown(tmp_path, monkeypatch):
    """The other side of the rule above, so that the test above can fail: without buildOnPreview the preview cannot
    know the ID, and the containers' image and the volumes' names are unknown (provider.go `canPreview`)."""
    from components.local import stack as local

    monkeypatch.setattr(local, "BUILD_ON_PREVIEW", False)
    sources = {"backend": checkout(tmp_path / "backend"), "frontend": ""}
    config = with_overrides(stack_config("local"), {"ams:local.sources": sources})
    previewed = runner.run("local", config, preview=True)
    api = next(r for r in previewed.by_type(CONTAINER) if r.inputs["name"] == "ams-local-api")
    assert api.inputs["image"] == runner.UNKNOWN
