"""docs/restore.md's backup-on-demand commands name what the render has, with flags the pinned kubectl-cnpg has.

kubectl-cnpg's `backup CLUSTER` takes `--method` and `--plugin-name`, the latter required with the plugin method
(cloudnative-pg v1.30.0 internal/cmd/plugin/backup/cmd.go); the plugin's ObjectStore reports
`status.serverRecoveryWindow` (its CRD in the conformance data)."""

from __future__ import annotations

import re
import shlex

from tests import test_readme_commands as readme_commands
from tests.conftest import PROJECT_DIR, render_stack, stack_config
from tools import render as render_cli
from tools import runner, update_plan

# Its flags at v1.30.0 (cmd.go), and kubectl's namespace flag.
KUBECTL_CNPG_BACKUP_FLAGS = {
    "-n",
    "--backup-name",
    "--backup-target",
    "--method",
    "--online",
    "--immediate-checkpoint",
    "--wait-for-archive",
    "--plugin-name",
    "--plugin-parameters",
}


def section_commands() -> list[list[str]]:
    text = (PROJECT_DIR / "docs" / "restore.md").read_text()
    start = text.index("## Backups on demand")
    block = re.search(r"```sh\n(.*?)```", text[start:], flags=re.S).group(1)
    return [shlex.split(line.split(" #", 1)[0]) for line in block.splitlines() if line.strip()]


def test_the_backup_command_names_the_cluster_its_namespace_and_its_plugin():
    prod = render_stack("prod")
    cluster = prod.get("Cluster", "ams-db")
    [backup] = [words for words in section_commands() if words[:3] == ["kubectl", "cnpg", "backup"]]
    assert backup[3] == cluster["metadata"]["name"]
    assert backup[backup.index("-n") + 1] == cluster["metadata"]["namespace"]
    assert backup[backup.index("--method") + 1] == "plugin"
    plugins = [plugin["name"] for plugin in cluster["spec"]["plugins"]]
    assert backup[backup.index("--plugin-name") + 1] in plugins
    assert {word for word in backup if word.startswith("-")} <= KUBECTL_CNPG_BACKUP_FLAGS


def test_the_recovery_window_is_read_from_the_object_store_the_render_has():
    prod = render_stack("prod")
    [window] = [words for words in section_commands() if "objectstores.barmancloud.cnpg.io" in words]
    store = prod.get("ObjectStore", window[window.index("objectstores.barmancloud.cnpg.io") + 1])
    assert window[window.index("-n") + 1] == store["metadata"]["namespace"]
    assert "{.status.serverRecoveryWindow}" in window[-1]


# --- the restore runbook, walked -------------------------------------------------------------------------------------

# kubectl's resource names for the objects the runbook deletes by hand (their CRDs' plurals and groups).
KUBECTL_KINDS = {
    "clusters.postgresql.cnpg.io": "Cluster",
    "poolers.postgresql.cnpg.io": "Pooler",
    "scheduledbackups.postgresql.cnpg.io": "ScheduledBackup",
    "secret": "Secret",
}


def runbook_blocks() -> list[list[str]]:
    """The shell blocks of the restore runbook, each a list of commands (continued lines joined, comments cut)."""
    text = (PROJECT_DIR / "docs" / "restore.md").read_text()
    start = text.index("## Restoring: a new cluster beside the running one")
    section = text[start : text.index("\n## ", start + 1)]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    return [
        [line.split(" #", 1)[0].strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()] for block in blocks
    ]


def walk() -> list[dict]:
    """Each block's commands applied to prod's stack file with the CLI's semantics (tests/test_readme_commands.py), a
    render at its `pulumi up`, and what it unprotects and deletes by hand."""
    config = stack_config("prod")
    before = runner.run("prod", config)
    steps = []
    for block in runbook_blocks():
        step = {"before": before, "unprotect": set(), "deletes": set(), "status": []}
        for command in block:
            words = shlex.split(command)
            if re.match(r"pulumi config (set|rm) ", command):
                readme_commands.apply(config, readme_commands.parse_command(command))
            elif words[:2] == ["pulumi", "up"]:
                step["after"] = runner.run("prod", config)
            elif words[:3] == ["pulumi", "state", "unprotect"]:
                step["unprotect"] |= {word for word in words[3:] if word.startswith("urn:")}
            elif words[:2] == ["kubectl", "-n"] and words[3] == "delete":
                step["deletes"].add((words[2], KUBECTL_KINDS[words[4]], words[5]))
            elif words[:3] == ["kubectl", "cnpg", "status"]:
                step["status"].append((words[words.index("-n") + 1], words[3]))
        before = step["after"]
        steps.append(step)
    return steps


def plan(step: dict) -> list[update_plan.Step]:
    records = (render_cli.resource_records(step["before"]), render_cli.resource_records(step["after"]))
    return [s for s in update_plan.plan(*records, secret_mutable=True) if s.op != "same"]


def test_the_restore_runbook_does_what_it_says_in_prod():
    """Step 1 creates the restored cluster and nothing else, step 2 moves the app, step 3 unprotects exactly what
    prod would refuse to delete (pulumi/pulumi pkg/cmd/pulumi/state/state_unprotect.go: variadic URNs, --yes) and
    deletes by hand exactly what the engine then only forgets (retainOnDelete)."""
    beside, serving, removed = walk()
    assert {s.op for s in plan(beside)} == {"create"}
    [(namespace, cluster)] = beside["status"]
    restored = beside["after"].get("Cluster", cluster)
    assert restored["metadata"]["namespace"] == namespace and "recovery" in restored["spec"]["bootstrap"]
    assert "delete" not in {s.op for s in plan(serving)}
    assert f"@{cluster}-pooler-rw." in serving["after"].get("Secret", "ams-connection")["stringData"]["database-url"]
    retained = [s for s in plan(removed) if s.refused]
    assert retained and all(s.retain_on_delete for s in retained)
    assert removed["unprotect"] == {s.urn for s in retained}
    objects = {r.urn: r.inputs["metadata"] for r in removed["before"].resources if "metadata" in r.inputs}
    expected = {(objects[s.urn]["namespace"], s.type.rsplit(":", 1)[-1], objects[s.urn]["name"]) for s in retained}
    assert removed["deletes"] == expected
