"""The procedure pages under docs/ name what exists: checked against the offline render wherever it can decide.

- every `kubectl` object a command names (`kind/name`, and the cluster `kubectl cnpg` names) is one the program,
  one of its Helm releases (rendered by the pinned helm from the vendored charts) or an operator acting on them
  creates, in that namespace, in some stack;
- every `helm` command names a release the program installs, in its namespace, with flags the pinned helm has;
- every `pulumi` command uses flags read in the pinned CLI's source (the table below), and every URN is one the
  render registers;
- onboarding and offboarding a team, applied as the page writes them, give exactly the RoleBindings the page says;
- the teardown page's retained and protected resources are the render's;
- the upgrade page's pins and the recovery page's releases and timeouts are the program's.
The `pulumi config` commands are also applied and rendered by tests/test_readme_commands.py, and `pulumi up|preview`
checked for the policy pack there.
"""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
from collections import Counter

import pytest

from components.settings import SettingsError
from tests.conftest import PROJECT_DIR, STACKS, render_stack, stack_config, with_overrides
from tests.test_readme_commands import apply, parse_command
from tests.test_restore import BESIDE
from tools import helm, runner

DOCS = PROJECT_DIR / "docs"
# Every page of docs/: the procedure pages were the first, and the same checks hold the others to the render.
PAGES = tuple(sorted(path.stem for path in DOCS.glob("*.md")))


def page(name: str) -> str:
    return (DOCS / f"{name}.md").read_text()


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[list[str]]:
    """Every simple command of the page's shell blocks, as words: continuations joined, comments dropped, pipelines
    and `&&`/`;` lists split."""
    found = []
    for block in shell_blocks(text):
        for raw in block.replace("\\\n", " ").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            words: list[str] = []
            for word in [*shlex.split(line), "|"]:
                if word in ("|", "||", "&&", ";", "do", "then"):
                    if words:
                        found.append(words)
                    words = []
                else:
                    words.append(word)
    return found


def inline_commands(text: str) -> list[list[str]]:
    """The commands quoted in the prose, outside the shell blocks (`kubectl -n ams logs ...`)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return [shlex.split(span) for span in re.findall(r"`((?:kubectl|helm|pulumi) [^`]+)`", prose)]


def all_commands(tool: str) -> list[tuple[str, list[str]]]:
    """Every command of the tool the pages give, in shell blocks and in the prose."""
    found = [(name, words) for name in PAGES for words in [*commands(page(name)), *inline_commands(page(name))]]
    return [(name, words) for name, words in found if words[0] == tool]


# --- kubectl: every object a command names exists ---------------------------------------------------------------------

KINDS = {  # kubectl's resource names as the pages write them -> kind
    "cluster": "Cluster",
    "deploy": "Deployment",
    "daemonset": "DaemonSet",
    "statefulset": "StatefulSet",
    "job": "Job",
    "pod": "Pod",
    "secret": "Secret",
    "namespace": "Namespace",
    "certificate": "Certificate",
    "gateway": "Gateway",
    "httproute": "HTTPRoute",
    "backendtrafficpolicy": "BackendTrafficPolicy",
}
# kubectl cnpg <verb> [cluster] NAME: the words between the verb and the cluster (cloudnative-pg v1.30.0 internal/cmd/plugin).
CNPG_VERBS = {"status": 0, "backup": 0, "logs": 1, "psql": 0}  # psql CLUSTER [-- PSQL_ARGS...] (internal/cmd/plugin/psql/cmd.go)
VALUE_FLAGS = ("-n", "--namespace", "--context", "-o", "--tail", "--since", "-l", "--method", "--plugin-name")


def object_refs(words: list[str]) -> list[tuple[str, str | None, str]]:
    """(kind, namespace, name) of each object a kubectl command names; a namespace in a shell variable is skipped."""
    namespace = None
    for flag in ("-n", "--namespace"):
        if flag in words:
            namespace = words[words.index(flag) + 1]
    if namespace and namespace.startswith("$"):
        return []
    if "--" in words:  # what follows runs in the container
        words = words[: words.index("--")]
    rest = [w for i, w in enumerate(words[1:], 1) if not w.startswith("-") and words[i - 1] not in VALUE_FLAGS]
    if rest[:1] == ["exec"]:  # kubectl exec POD COMMAND...: only the pod is an object
        rest = rest[:2]
    if rest[:1] == ["cnpg"]:
        return [("Cluster", namespace, rest[2 + CNPG_VERBS[rest[1]]])] if len(rest) > 1 else []
    refs = []
    for word in rest:
        if re.fullmatch(r"[a-z]+/[^/=]+", word):
            alias, name = word.split("/")
            assert alias in KINDS, f"add kubectl's {alias!r} to KINDS: {' '.join(words)}"
            refs.append((KINDS[alias], None if KINDS[alias] == "Namespace" else namespace, name))
    return refs


def identities(objects: list[dict]) -> set[tuple[str, str | None, str]]:
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}


def made_by_operators(objects: list[dict]) -> set[tuple[str, str | None, str]]:
    """What controllers create from the declared objects, by rules each cited upstream."""
    made = set()
    for o in objects:
        kind, meta, spec = o["kind"], o["metadata"], o.get("spec") or {}
        namespace = meta.get("namespace")
        if kind == "StatefulSet":  # a StatefulSet's pods are <name>-<ordinal> (Kubernetes: StatefulSet pod identity)
            made |= {("Pod", namespace, f"{meta['name']}-{i}") for i in range(int(spec.get("replicas", 1)))}
        if kind in ("Prometheus", "Alertmanager"):
            # prometheus-operator pkg/prometheus/server/statefulset.go and pkg/alertmanager/statefulset.go: the pods are
            # prometheus-<name>-<ordinal> and alertmanager-<name>-<ordinal> (as components/monitoring/observers.py cites).
            made |= {("Pod", namespace, f"{kind.lower()}-{meta['name']}-{i}") for i in range(int(spec.get("replicas", 1)))}
        if kind == "Pooler":  # cloudnative-pg v1.30.0 pkg/specs/pgbouncer/deployments.go: the Deployment is the Pooler's name
            made.add(("Deployment", namespace, meta["name"]))
        if kind == "Gateway" and "cert-manager.io/cluster-issuer" in (meta.get("annotations") or {}):
            # cert-manager pkg/controller/certificate-shim/sync.go buildCertificates: `Name: secretRef.Name`.
            for listener in spec.get("listeners", []):
                for ref in (listener.get("tls") or {}).get("certificateRefs", []):
                    made.add(("Certificate", namespace, ref["name"]))
    return made


@pytest.fixture(scope="module")
def cluster_objects(helm_bin, charts) -> dict[str, set]:
    """Per stack: what the program declares, what its releases install, and what operators make of those."""
    universe = {}
    # A restore beside the running cluster (docs/restore.md) makes a second one the pages then name.
    restored = runner.run("prod", with_overrides(stack_config("prod"), BESIDE))
    for stack, render in [*((stack, render_stack(stack)) for stack in STACKS), ("prod-restored", restored)]:
        apis = helm.api_versions(render)
        chart = [o for release in helm.releases(render) for o in helm.render_release(release, apis, helm=helm_bin, charts=charts)]
        objects = [*render.objects, *chart]
        universe[stack] = identities(objects) | made_by_operators(objects)
    return universe


def resolves(ref: tuple[str, str | None, str], universe: dict[str, set]) -> bool:
    kind, namespace, name = ref
    pattern = re.compile(re.sub(r"<[^>]+>", "[a-z0-9]+", re.escape(name).replace(r"\<", "<").replace(r"\>", ">")))
    return any(k == kind and n == namespace and pattern.fullmatch(o) for objects in universe.values() for k, n, o in objects)


def kubectl_refs() -> list[tuple[str, tuple, str]]:
    return [(name, ref, " ".join(words)) for name, words in all_commands("kubectl") for ref in object_refs(words)]


def test_every_object_a_kubectl_command_names_exists(cluster_objects):
    refs = kubectl_refs()
    assert len(refs) >= 25, refs  # the parser still finds them
    missing = [f"{name}: {ref} ({line})" for name, ref, line in refs if not resolves(ref, cluster_objects)]
    assert missing == []


def test_the_kubectl_parser():
    words = shlex.split("kubectl -n ams logs job/ams-db-migrate-<hash> --tail 5")
    assert object_refs(words) == [("Job", "ams", "ams-db-migrate-<hash>")]
    cnpg = shlex.split("kubectl cnpg logs cluster ams-db -n ams-data --tail 200")
    assert object_refs(cnpg) == [("Cluster", "ams-data", "ams-db")]
    namespaces = shlex.split("kubectl delete namespace/a namespace/b")
    assert object_refs(namespaces) == [("Namespace", None, "a"), ("Namespace", None, "b")]
    assert object_refs(shlex.split("kubectl -n ams get jobs -l app.kubernetes.io/component=migration")) == []
    universe = {"dev": {("Job", "ams", "ams-db-migrate-df4ba7f3ee")}}
    assert resolves(("Job", "ams", "ams-db-migrate-<hash>"), universe)
    assert not resolves(("Job", "ams-data", "ams-db-migrate-<hash>"), universe)
    assert not resolves(("Job", "ams", "ams-db-migrate"), universe)


# --- helm: releases that exist, flags the pinned helm has ----------------------------------------------------------


def helm_subcommand(words: list[str]) -> tuple[str, list[str], list[str]]:
    """(subcommand, its positional arguments, its flags) of a helm command."""
    takes_value = {"-n", "--namespace", "--kube-context", "--max", "--timeout", "--version", "--set"}
    positional, flags = [], []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word.startswith("-"):
            flags.append(word.split("=", 1)[0])
            skip = word in takes_value
        else:
            positional.append(word)
    return positional[0], positional[1:], flags


def test_every_helm_command_names_a_release_in_its_namespace():
    releases = {(r.name, r.namespace) for stack in STACKS for r in helm.releases(render_stack(stack))}
    named = []
    for name, words in all_commands("helm"):
        sub, args, _ = helm_subcommand(words)
        if sub in ("history", "rollback", "uninstall") and "-n" in words:  # not the usage lines quoted in the prose
            namespace = words[words.index("-n") + 1]
            named.append((name, args[0], namespace))
    assert named, "the recovery page rolls a release back"
    assert [n for n in named if (n[1], n[2]) not in releases] == []


def test_every_helm_flag_is_one_the_pinned_helm_has(helm_bin):
    for name, words in all_commands("helm"):
        sub, _, flags = helm_subcommand(words)
        usage = subprocess.run([helm_bin, sub, "--help"], capture_output=True, text=True, check=True).stdout
        unknown = [f for f in flags if not re.search(rf"(^|[\s,]){re.escape(f)}[\s=,]", usage)]
        assert unknown == [], f"{name}: helm {sub} has no {unknown}"


# --- pulumi: flags read in the pinned CLI's source, URNs the render registers -------------------------------------------

# Each subcommand's flags as the pages use them, read in pulumi/pulumi at v3.259.0 (the newest source available offline;
# the workflows pin the CLI at 3.272.0): pkg/cmd/pulumi/cancel/cancel.go (--yes, --stack), operations/refresh.go
# (--clear-pending-creates, --import-pending-creates (one value each time), --skip-pending-creates), operations/destroy.go
# (--remove, --exclude-protected, --target, --yes), operations/preview.go (--diff, --policy-pack), stack/stack_export.go
# and stack_import.go (--file), state/state_unprotect.go (--all, --yes), config/config.go (--path, --secret). `--stack`
# is every one's. The other pages' flags were read at the mirror's newest commit: operations/up.go (--yes,
# --expect-no-changes, --skip-preview), preview.go (--expect-no-changes, --refresh), refresh.go (--target), destroy.go
# (--target-dependents), stack/stack_select.go (--create, --secrets-provider), auth/login.go (--local).
PULUMI_FLAGS = {
    "cancel": {"--yes"},
    "refresh": {"--yes", "--clear-pending-creates", "--import-pending-creates", "--skip-pending-creates", "--target"},
    "destroy": {"--yes", "--remove", "--exclude-protected", "--target", "--target-dependents"},
    "preview": {"--diff", "--policy-pack", "--expect-no-changes", "--refresh"},
    "up": {"--policy-pack", "--target", "--replace", "--yes", "--expect-no-changes", "--skip-preview"},
    "login": {"--local"},  # pkg/cmd/pulumi/auth/login.go: the backend URL is its argument
    "stack export": {"--file"},
    "stack import": {"--file"},
    "stack history": set(),
    "stack select": {"--create", "--secrets-provider"},
    "stack init": set(),
    "stack output": {"--show-secrets"},  # pkg/cmd/pulumi/stack/stack_select.go
    "state unprotect": {"--all", "--yes"},
    "config": set(),
    "config set": {"--path", "--secret"},
    "config rm": {"--path"},
}


def test_every_pulumi_flag_is_one_the_pinned_cli_has():
    used = []
    for name, words in all_commands("pulumi"):
        sub = " ".join(words[1:3]) if " ".join(words[1:3]) in PULUMI_FLAGS else words[1]
        assert sub in PULUMI_FLAGS, f"{name}: read `pulumi {sub}` in the CLI's source and add it: {words}"
        flags = {w.split("=", 1)[0] for w in words if w.startswith("--")} - {"--stack"}
        used.append((name, sub, flags - PULUMI_FLAGS[sub]))
    assert len(used) >= 25
    assert [u for u in used if u[2]] == []


def test_every_urn_is_one_the_render_registers():
    urns = [(name, urn) for name in PAGES for urn in re.findall(r"urn:pulumi:[^\s'\"`]+", page(name))]
    assert urns
    for name, urn in urns:
        stack = urn.split(":")[2]
        assert urn in {r.urn for r in render_stack(stack).resources}, f"{name}: {urn}"


# --- people and access: the page's commands give the bindings it says ------------------------------------------------


def access_blocks() -> list[list]:
    """Each shell block of the access page as its config commands (block by block, as a team joins, then leaves)."""
    blocks = []
    for block in shell_blocks(page("people-and-access")):
        lines = [line.split(" #", 1)[0].strip() for line in block.splitlines()]
        blocks.append([parse_command(line) for line in lines if re.match(r"pulumi config (set|rm) ", line)])
    return [b for b in blocks if b]


def role_bindings(render: runner.Render) -> dict[tuple[str, str], dict]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in render.of_kind("RoleBinding")}


SUPPORT = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ams-support"}


def test_a_team_joins_and_leaves_through_the_access_settings():
    joining, leaving = access_blocks()
    before = role_bindings(render_stack("prod"))
    config = copy.deepcopy(stack_config("prod"))
    for command in joining:
        apply(config, command)
    joined = role_bindings(runner.run("prod", config))
    for namespace in ("ams", "ams-data", "ams-monitoring"):
        binding = joined.pop((namespace, "ams-support-view"))
        assert binding["subjects"] == [SUPPORT]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    observe = joined[("ams-monitoring", "ams-observe")]
    assert [s["name"] for s in observe["subjects"]] == ["ams-operations", "ams-support"]
    observe["subjects"] = [s for s in observe["subjects"] if s != SUPPORT]
    assert joined == before  # nothing else changed
    for command in leaving:
        apply(config, command)
    assert role_bindings(runner.run("prod", config)) == before


def test_setting_only_the_new_group_is_refused_as_the_page_says():
    config = copy.deepcopy(stack_config("prod"))
    apply(config, parse_command("pulumi config set --path 'ams:access.groups.support' ams-support"))
    with pytest.raises(SettingsError) as refused:
        runner.run("prod", config)
    quoted = "ams:access.bindings.operations: names no group in access.groups (support)"
    assert quoted in refused.value.problems
    assert quoted in page("people-and-access")


# --- teardown: what is retained and protected is the render's --------------------------------------------------------


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text[text.index(heading) :]
    section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def test_the_teardown_page_lists_what_a_destroy_retains():
    rows = table_rows(page("teardown"), "## What a destroy leaves behind")
    listed = {row[0].strip("`"): {"dev": row[1].strip("`"), "staging": row[2].strip("`")} for row in rows}
    for stack in ("dev", "staging"):
        retained = {r.name: r.inputs["metadata"]["name"] for r in render_stack(stack).resources if r.retain_on_delete}
        assert retained == {name: names[stack] for name, names in listed.items()}, stack
        assert not [r.name for r in render_stack(stack).resources if r.protect], f"{stack} protects nothing"


def test_the_teardown_page_lists_what_prod_protects():
    text = page("teardown")
    listed = Counter(name for row in table_rows(text, "## Prod") for name in re.findall(r"`([^`]+)`", row[1]))
    protected = [r for r in render_stack("prod").resources if r.protect]
    assert listed == Counter(r.name for r in protected)  # a Secret and its RandomPassword may share a name
    assert all(r.retain_on_delete for r in protected)
    assert re.search(rf"\b{len(protected)}\s+resources", text)


# --- upgrading and recovering: the pins, releases and timeouts the pages give ----------------------------------------


def test_the_upgrade_page_gives_the_pins_the_program_uses():
    text = page("upgrading")
    pins = re.findall(r"`([A-Z_]+_CHART)` in `([\w/]+\.py)` \(([\w.]+)", text)
    assert len(pins) == 7, pins
    releases = {r.chart.rsplit("/", 1)[-1]: r.version for stack in STACKS for r in helm.releases(render_stack(stack))}
    for constant, path, version in pins:
        source = (PROJECT_DIR / path).read_text()
        declared = re.search(rf"{constant} = kb\.Chart\(\"([^\"]+)\", \"([^\"]+)\"", source)
        assert declared and declared.group(2) == version, (constant, path, version)
        chart = declared.group(1).rsplit("/", 1)[-1]
        assert releases.get(chart, version) == version, chart  # External Secrets: installed by no committed stack
    workflows = [(PROJECT_DIR / ".github/workflows" / f).read_text() for f in ("deploy.yml", "drift.yml", "pull-request.yml")]
    cli = re.search(r"`pulumi-version: ([\d.]+)`", text).group(1)
    assert all(f"pulumi-version: {cli}" in workflow for workflow in workflows)
    lock = (PROJECT_DIR / "requirements.txt").read_text()
    for package, version in re.findall(r"`(pulumi(?:-kubernetes)?)==([\d.]+)`", text):
        assert f"\n{package}=={version} " in lock, package


RELEASES = {  # the upgrade page's names of the releases
    "Envoy Gateway": "envoy-gateway",
    "cert-manager": "cert-manager",
    "CloudNativePG": "cloudnative-pg",
    "the Barman Cloud plugin": "plugin-barman-cloud",
    "kube-prometheus-stack": "kube-prometheus-stack",
    "Loki": "loki",
    "External Secrets": "external-secrets",
}


def test_the_upgrade_order_follows_the_releases_dependencies():
    order_text = re.search(r"So: (.*?)\.\n", page("upgrading"), flags=re.S).group(1)
    order = [RELEASES[name.strip()] for name in order_text.replace("\n", " ").split(",")]
    assert sorted(order) == sorted(RELEASES.values())
    for stack in STACKS:
        resources = render_stack(stack).by_type(helm.RELEASE_TYPE)
        name = {r.urn: r.inputs["name"] for r in resources}
        edges = [(name[d], name[r.urn]) for r in resources for d in r.dependencies if d in name]
        assert edges, stack
        assert [(a, b) for a, b in edges if order.index(a) > order.index(b)] == [], stack


def test_the_recovery_page_gives_the_releases_and_timeouts():
    text = page("recovering-a-failed-update")
    rows = table_rows(text, "## 3. A Helm release stuck")
    listed = {tuple(cell.strip("`") for cell in row) for row in rows}
    prod = render_stack("prod")
    assert listed == {(r.name, r.namespace, r.resource) for r in helm.releases(prod)}
    timeouts = {r.name: r.custom_timeouts.get("create") for r in prod.resources if r.custom_timeouts}
    assert timeouts["ams-data-db"] == "30m" and "30 minutes (`customTimeouts`)" in text
    assert timeouts["ams-db-migrate"] == "900s" and "15 minutes (`customTimeouts`" in text
    job = next(o for o in prod.of_kind("Job") if o["metadata"]["name"].startswith("ams-db-migrate-"))
    assert f"`activeDeadlineSeconds` is {job['spec']['activeDeadlineSeconds']}" in text
    release_timeouts = {r.inputs["name"]: r.inputs.get("timeout") for r in prod.by_type(helm.RELEASE_TYPE)}
    assert release_timeouts == {
        "cert-manager": 600,
        "plugin-barman-cloud": 600,
        "loki": 600,
        "kube-prometheus-stack": 900,
        "cloudnative-pg": 300,
        "envoy-gateway": 300,
    }
    assert "(cert-manager, the\nBarman Cloud plugin and Loki 600 s, kube-prometheus-stack 900 s, the others 300 s)" in text
