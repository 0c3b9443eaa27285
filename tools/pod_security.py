"""The Kubernetes Pod Security Standards, evaluated on a pod spec: which controls of a level it breaks.

kubernetes/website content/en/docs/concepts/security/pod-security-standards.md, as the Pod Security admission
controller enforces it at Kubernetes 1.35 (kubernetes/kubernetes staging/src/k8s.io/pod-security-admission/policy/
check_*.go). Not evaluated: Windows-only fields other than hostProcess, and the AppArmor and seccomp annotations.
"""

from __future__ import annotations

from tools.helm import containers, get_path

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE"}
BASELINE_CAPABILITIES |= {"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start"}
SAFE_SYSCTLS |= {"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports"}
SAFE_SYSCTLS |= {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl"}
SAFE_SYSCTLS |= {"net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
CONFINED = {"RuntimeDefault", "Localhost"}


def pod_security_violations(spec: dict, level: str) -> list[str]:
    """What keeps a pod spec from a Pod Security level ("privileged", "baseline" or "restricted"); [] if it passes."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}")
    if level == "privileged":
        return []
    found = baseline_violations(spec)
    if level == "restricted":
        found += restricted_violations(spec)
    return found


def baseline_violations(spec: dict) -> list[str]:
    found = [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    found += [f"volume {v.get('name')} is hostPath" for v in spec.get("volumes") or [] if "hostPath" in v]
    pod_context = spec.get("securityContext") or {}
    found += _context_baseline("pod", pod_context)
    unsafe = [s.get("name") for s in pod_context.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS]
    found += [f"sysctl {name} is not safe" for name in unsafe]
    user_namespace = spec.get("hostUsers") is False
    for container in containers(spec):
        where = f"container {container.get('name')}"
        context = container.get("securityContext") or {}
        found += _context_baseline(where, context)
        if context.get("privileged"):
            found.append(f"{where}: privileged")
        added = set(get_path(context, "capabilities", "add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"{where}: adds capabilities {', '.join(sorted(added))}")
        found += [f"{where}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
        if context.get("procMount", "Default") != "Default" and not user_namespace:
            found.append(f"{where}: procMount {context['procMount']}")
        found += [f"{where}: {handler} sets host {host}" for handler, host in _handler_hosts(container)]
    return found


def restricted_violations(spec: dict) -> list[str]:
    found = []
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types & RESTRICTED_VOLUMES and "hostPath" not in types:  # hostPath is reported by baseline
            found.append(f"volume {volume.get('name')} has type {', '.join(sorted(types)) or 'unknown'}")
    pod_context = spec.get("securityContext") or {}
    user_namespace = spec.get("hostUsers") is False
    if pod_context.get("runAsNonRoot") is False and not user_namespace:
        found.append("pod: runAsNonRoot=false")
    if pod_context.get("runAsUser") == 0 and not user_namespace:
        found.append("pod: runAsUser=0")
    pod_seccomp = get_path(pod_context, "seccompProfile", "type")
    for container in containers(spec):
        where = f"container {container.get('name')}"
        context = container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        if not user_namespace:
            if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
                found.append(f"{where}: runAsNonRoot is not true (pod or container)")
            if context.get("runAsUser") == 0:
                found.append(f"{where}: runAsUser=0")
        seccomp = get_path(context, "seccompProfile", "type") or pod_seccomp
        if seccomp not in CONFINED:
            found.append(f"{where}: seccompProfile is {seccomp or 'unset'} (pod or container: RuntimeDefault or Localhost)")
        if "ALL" not in (get_path(context, "capabilities", "drop") or []):
            found.append(f"{where}: capabilities.drop lacks ALL")
        added = set(get_path(context, "capabilities", "add") or []) - {"NET_BIND_SERVICE"}
        if added:
            found.append(f"{where}: adds capabilities {', '.join(sorted(added))} (restricted: only NET_BIND_SERVICE)")
        if context.get("procMount", "Default") != "Default" and user_namespace:
            found.append(f"{where}: procMount {context['procMount']}")  # baseline lets a user-namespace pod have it
    return found


def _context_baseline(where: str, context: dict) -> list[str]:
    """Fields a pod and a container security context share: Windows host process, SELinux, seccomp, AppArmor."""
    found = []
    if get_path(context, "windowsOptions", "hostProcess"):
        found.append(f"{where}: windowsOptions.hostProcess")
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        found.append(f"{where}: seLinuxOptions {selinux}")
    if get_path(context, "seccompProfile", "type") == "Unconfined":
        found.append(f"{where}: seccompProfile Unconfined")
    if get_path(context, "appArmorProfile", "type") not in (None, *CONFINED):
        found.append(f"{where}: appArmorProfile {context['appArmorProfile']['type']}")
    return found


def _handler_hosts(container: dict) -> list[tuple[str, str]]:
    """Probe and lifecycle handlers that name a host (forbidden by baseline since Kubernetes 1.34)."""
    handlers = {probe: container.get(probe) for probe in ("livenessProbe", "readinessProbe", "startupProbe")}
    handlers |= {f"lifecycle.{hook}": get_path(container, "lifecycle", hook) for hook in ("postStart", "preStop")}
    return [
        (where, handler[action]["host"])
        for where, handler in handlers.items()
        if handler
        for action in ("httpGet", "tcpSocket")
        if (handler.get(action) or {}).get("host")
    ]
