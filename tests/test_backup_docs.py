"""docs/restore.md's backup-on-demand commands name what the render has, with flags the pinned kubectl-cnpg has.

kubectl-cnpg's `backup CLUSTER` takes `--method` and `--plugin-name`, the latter required with the plugin method
(cloudnative-pg v1.30.0 internal/cmd/plugin/backup/cmd.go); the plugin's ObjectStore reports
`status.serverRecoveryWindow` (its CRD in the conformance data)."""

from __future__ import annotations

import re
import shlex

from tests.conftest import PROJECT_DIR, render_stack

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
