"""The project files agree with the settings model."""

from __future__ import annotations

import re

import yaml

from components import settings
from tests.conftest import PROJECT_DIR


def test_pulumi_yaml_declares_exactly_the_keys_settings_reads():
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == "ams"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    provider_config = {key: value for key, value in project["config"].items() if key.startswith("kubernetes:")}
    # Secrets change in place instead of being deleted and recreated (see test_day2.py).
    assert provider_config == {"kubernetes:enableSecretMutable": True}
    declared = {key: value for key, value in project["config"].items() if key not in provider_config}
    assert set(declared) == set(settings.OBJECT_KEYS) | set(settings.SECRET_KEYS) | set(settings.SCALAR_KEYS)
    for key, declaration in declared.items():
        assert declaration["description"], key
        # Every key is optional for a stack, so every one needs a default (the CLI requires the others).
        expected = ("object", {}) if key in settings.OBJECT_KEYS else ("string", "")
        assert (declaration["type"], declaration["default"]) == expected, key
    for key in settings.SECRET_KEYS:
        # `secret: true` with a default is refused on every stack that leaves the key unset; the program checks.
        assert "secret" not in declared[key] and "--secret" in declared[key]["description"], key


def test_stack_files_exist_for_every_environment():
    for environment in settings.ENVIRONMENTS:
        config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{environment}.yaml").read_text())["config"]
        assert config["ams:environment"] == environment


def test_requirements_are_bounded_and_hash_locked():
    """Ranges live in requirements*.in; requirements*.txt pin every package (transitive ones too) by version and
    hash (scripts/lock.sh, pip-compile --generate-hashes), and scripts/setup.sh installs with --require-hashes."""
    setup = (PROJECT_DIR / "scripts" / "setup.sh").read_text()
    for name in ("requirements", "requirements-checkov"):
        ranges = {}
        for line in (PROJECT_DIR / f"{name}.in").read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                assert re.search(r">=[^,]+,<", line), f"{name}.in: {line} needs a lower and an upper bound"
                ranges[re.split(r"[<>=]", line, maxsplit=1)[0].lower()] = line
        lock = (PROJECT_DIR / f"{name}.txt").read_text()
        pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, flags=re.M))
        assert {n.lower().replace("_", "-") for n in pins} >= {n.replace("_", "-") for n in ranges}, f"{name}.txt is stale"
        entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock)
        for entry in entries[1:]:
            assert "--hash=sha256:" in entry, f"{name}.txt: {entry.splitlines()[0]} has no hash"
        assert f"--require-hashes -r {name}.txt" in setup


def test_the_configuration_page_lists_every_config_key():
    page = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    for key in (*settings.OBJECT_KEYS, *settings.SECRET_KEYS, *settings.SCALAR_KEYS):
        assert f"`ams:{key}" in page, key
