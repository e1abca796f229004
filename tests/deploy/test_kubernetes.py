"""deploy/k8s: valid against Kubernetes' own schemas (``kubernetes-validate``, which bundles
them: offline), and every pod passing the "restricted" Pod Security Standard.

No maintained PyPI package checks the Pod Security Standards offline without a cluster
(``checkov`` does, among a thousand other checks, at a heavy install), so
:func:`restricted_violations` checks them field by field, as
https://kubernetes.io/docs/concepts/security/pod-security-standards/ lists them (the Baseline
controls, which Restricted includes, then the Restricted ones). The namespace's labels make
the API server enforce the same standard when the manifests are applied.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.files import (
    K8S,
    ROOT,
    UCRENEW_IMAGE,
    all_containers,
    k8s_documents,
    pod_spec,
)

#: The oldest Kubernetes release the manifests are written for, and the newest the validator
#: knows: both must accept every document.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]

# Pod Security Standards, Baseline: capabilities a container may add.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
# Baseline, "Sysctls": the safe set.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
# Baseline, "SELinux": the allowed types.
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Restricted, "Volume Types".
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """What in a pod spec breaks the "restricted" Pod Security Standard (empty: passes).

    Each check names the control of
    https://kubernetes.io/docs/concepts/security/pod-security-standards/ it implements.
    """
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    containers = all_containers(spec)

    def each(field_path: str) -> list[tuple[str, Any]]:
        """(where, value) for the pod-level and each container-level securityContext value."""
        keys = field_path.split(".")
        found = []
        for where, sc in [("pod", pod_sc)] + [
            (c["name"], c.get("securityContext") or {}) for c in containers
        ]:
            value: Any = sc
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            found.append((where, value))
        return found

    # Baseline: HostProcess.
    for where, value in each("windowsOptions.hostProcess"):
        if value:
            out.append(f"{where}: windowsOptions.hostProcess must be false or unset")
    # Baseline: Host Namespaces.
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"pod: {key} must be false or unset")
    # Baseline: Privileged Containers.
    for c in containers:
        if (c.get("securityContext") or {}).get("privileged"):
            out.append(f"{c['name']}: privileged must be false or unset")
    # Baseline: Capabilities; Restricted: Capabilities (drop ALL, add only NET_BIND_SERVICE).
    for c in containers:
        caps = (c.get("securityContext") or {}).get("capabilities") or {}
        added = set(caps.get("add") or [])
        if added - BASELINE_CAPABILITIES or added - {"NET_BIND_SERVICE"}:
            out.append(f"{c['name']}: capabilities.add may only hold NET_BIND_SERVICE")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{c['name']}: capabilities.drop must include ALL")
    # Baseline: HostPath Volumes; Restricted: Volume Types.
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            out.append(f"volume {volume['name']}: type {sorted(kinds)} is not allowed")
    # Baseline: Host Ports.
    for c in containers:
        for port in c.get("ports", []):
            if port.get("hostPort"):
                out.append(f"{c['name']}: hostPort must be unset or 0")
    # Baseline: AppArmor.
    for where, value in each("appArmorProfile.type"):
        if value not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{where}: appArmorProfile.type {value} is not allowed")
    # Baseline: SELinux.
    for where, value in each("seLinuxOptions.type"):
        if value is not None and value not in SELINUX_TYPES:
            out.append(f"{where}: seLinuxOptions.type {value} is not allowed")
    for where, value in each("seLinuxOptions.user") + each("seLinuxOptions.role"):
        if value:
            out.append(f"{where}: seLinuxOptions.user/role must be unset")
    # Baseline: /proc Mount Type.
    for c in containers:
        if (c.get("securityContext") or {}).get("procMount") not in (None, "Default"):
            out.append(f"{c['name']}: procMount must be Default")
    # Baseline: Sysctls.
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            out.append(f"pod: sysctl {sysctl['name']} is not in the safe set")
    # Restricted: Privilege Escalation.
    for c in containers:
        if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
            out.append(f"{c['name']}: allowPrivilegeEscalation must be false")
    # Restricted: Running as Non-root.
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    for c in containers:
        value = (c.get("securityContext") or {}).get("runAsNonRoot")
        if value is False or (value is None and not pod_non_root):
            out.append(f"{c['name']}: runAsNonRoot must be true (pod or container)")
    # Restricted: Running as Non-root user.
    for where, value in each("runAsUser"):
        if value == 0:
            out.append(f"{where}: runAsUser must not be 0")
    # Baseline and Restricted: Seccomp.
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for where, value in each("seccompProfile.type"):
        if value == "Unconfined":
            out.append(f"{where}: seccompProfile.type must not be Unconfined")
    for c in containers:
        mine = ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        if (mine or pod_seccomp) not in ("RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccompProfile.type must be RuntimeDefault or Localhost")
    return out


def ucrenew_hardening(spec: dict[str, Any]) -> list[str]:
    """What ucrenew asks beyond the standard: numeric ids, a read-only root, limits, pinned
    image, and (for long-running pods) probes."""
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    for c in all_containers(spec):
        sc = c.get("securityContext") or {}
        for key in ("runAsUser", "runAsGroup"):
            value = sc.get(key, pod_sc.get(key))
            if not isinstance(value, int) or value < 1000:
                out.append(f"{c['name']}: {key} must be a numeric non-system id")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{c['name']}: readOnlyRootFilesystem must be true")
        resources = c.get("resources") or {}
        for part in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(resources.get(part) or {}):
                out.append(f"{c['name']}: resources.{part} must set cpu and memory")
        if not UCRENEW_IMAGE.match(c.get("image", "")):
            out.append(f"{c['name']}: image {c.get('image')!r} is not a pinned ucrenew image")
    return out


WORKLOADS = [(path, doc) for path, doc in k8s_documents() if pod_spec(doc) is not None]


def test_the_manifests_hold_the_workloads_and_the_namespace() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in k8s_documents()}
    assert {
        ("Namespace", "ucrenew"),
        ("Deployment", "ucrenew-worker"),
        ("Deployment", "ucrenew-service"),
        ("Service", "ucrenew-service"),
    } <= kinds
    assert any(kind == "Job" for kind, _ in kinds)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_is_valid_against_the_kubernetes_schema(version: str) -> None:
    """Strict: a field the API does not know (a typo) is an error, not silently dropped."""
    for path, doc in k8s_documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {err.message}")


def test_the_schema_check_catches_a_typo() -> None:
    """The validator is strict enough to matter: a misspelt security field fails."""
    _, doc = next((p, d) for p, d in WORKLOADS if d["kind"] == "Deployment")
    broken = copy.deepcopy(doc)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("path,doc", WORKLOADS, ids=lambda v: getattr(v, "name", ""))
def test_every_pod_passes_the_restricted_pod_security_standard(
    path: Path, doc: dict[str, Any]
) -> None:
    spec = pod_spec(doc)
    assert spec is not None
    assert restricted_violations(spec) == []
    assert ucrenew_hardening(spec) == []


def test_the_check_refuses_what_the_old_manifests_did() -> None:
    """The shipped worker before issue 15 (a pod security context of runAsNonRoot only, with
    the image's named user) and a few single-field regressions: each is caught."""
    old = {
        "securityContext": {"runAsNonRoot": True},
        "containers": [{"name": "worker", "image": "ucrenew:latest"}],
    }
    found = restricted_violations(old)
    assert any("allowPrivilegeEscalation" in v for v in found)
    assert any("capabilities.drop" in v for v in found)
    assert any("seccompProfile" in v for v in found)
    assert any("runAsUser" in v for v in ucrenew_hardening(old))

    _, worker = next((p, d) for p, d in WORKLOADS if d["metadata"]["name"] == "ucrenew-worker")
    spec = pod_spec(worker)
    assert spec is not None
    for mutate, expected in [
        (lambda s: s["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda s: s.update(hostNetwork=True), "hostNetwork"),
        (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "volume h"),
        (lambda s: s["securityContext"].update(runAsUser=0), "runAsUser"),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                capabilities={"drop": ["ALL"], "add": ["NET_ADMIN"]}
            ),
            "capabilities.add",
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(
                seccompProfile={"type": "Unconfined"}
            ),
            "Unconfined",
        ),
    ]:
        broken = copy.deepcopy(spec)
        mutate(broken)
        assert any(expected in v for v in restricted_violations(broken)), expected


def test_the_namespace_enforces_the_restricted_standard() -> None:
    """https://kubernetes.io/docs/concepts/security/pod-security-admission/: the labels make
    the API server refuse a pod that drifts from the standard."""
    (ns,) = [d for _, d in k8s_documents() if d["kind"] == "Namespace"]
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for _, doc in k8s_documents():
        if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != "temporal":
            assert doc["metadata"].get("namespace") == "ucrenew", doc["metadata"]["name"]


def test_long_running_pods_have_probes_on_the_health_endpoints() -> None:
    """Workers: /healthz for liveness, /readyz for readiness, on the port the image's
    UCRENEW_WORKER_HEALTH_LISTEN opens; the service likewise on its own port."""
    for _, doc in WORKLOADS:
        if doc["kind"] != "Deployment":
            continue
        spec = pod_spec(doc)
        assert spec is not None
        for c in spec["containers"]:
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c["name"]
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c["name"]
            named = {p["name"]: p["containerPort"] for p in c["ports"]}
            port = c["readinessProbe"]["httpGet"]["port"]
            assert port in named or port in named.values()
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            listen = env.get("UCRENEW_WORKER_HEALTH_LISTEN") or env.get("UCRENEW_SERVICE_LISTEN")
            assert listen is not None and listen.endswith(f":{named.get(port, port)}")


def test_secrets_are_references_to_files_in_mounted_secret_volumes() -> None:
    """Every secret reference (``*_REF``, the session key) is ``file:`` inside a read-only
    mount of a Secret volume: nothing secret in the manifests, nothing in env values."""
    for path, doc in WORKLOADS:
        spec = pod_spec(doc)
        assert spec is not None
        secret_volumes = {v["name"] for v in spec.get("volumes", []) if "secret" in v}
        for c in all_containers(spec):
            mounts = [
                m["mountPath"].rstrip("/") + "/"
                for m in c.get("volumeMounts", [])
                if m["name"] in secret_volumes and m.get("readOnly") is True
            ]
            for entry in c.get("env", []):
                name = entry["name"]
                if not (name.endswith("_REF") or name == "UCRENEW_SERVICE_SESSION_KEY"):
                    continue
                value = entry.get("value", "")
                assert value.startswith("file:"), f"{path.name} {name}"
                target = value.removeprefix("file:")
                assert any(target.startswith(m) for m in mounts), f"{path.name} {name}"


def test_admin_init_runs_as_a_job_and_the_old_script_is_gone() -> None:
    """``ucrenew admin init`` replaces deploy/register-search-attributes.sh (which needed the
    temporal CLI in the image and knew nothing of TLS)."""
    jobs = [d for _, d in WORKLOADS if d["kind"] == "Job"]
    commands = [c.get("command", []) for j in jobs for c in (pod_spec(j) or {})["containers"]]
    assert any(cmd[:3] == ["ucrenew", "admin", "init"] for cmd in commands)
    assert not (K8S.parent / "register-search-attributes.sh").exists()
    for path in [*K8S.parent.rglob("*"), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]:
        if path.is_file() and path.suffix in (".md", ".yaml", ".yml", ".sh", ""):
            assert "register-search-attributes" not in path.read_text(errors="replace"), path


#: Settings that name a file or directory the process reads.
READ_PATHS = {"UCRENEW_INVENTORY", "UCRENEW_TEMPORAL_TLS_CA_FILE", "UCRENEW_SERVICE_USERS_FILE"}
#: Settings that name a directory the process writes (the root filesystem is read-only).
WRITE_DIRS = {"UCRENEW_STATE_DIR", "UCRENEW_TRUST_DIR"}


def test_every_path_setting_points_into_a_mount_and_state_into_a_writable_one() -> None:
    """With a read-only root, a path outside the mounts is a file that is not there, and a
    state dir outside a writable volume is a worker that fails at its first write."""
    for path, doc in WORKLOADS:
        spec = pod_spec(doc)
        assert spec is not None
        writable_volumes = {
            v["name"]
            for v in spec.get("volumes", [])
            if {"emptyDir", "persistentVolumeClaim"} & set(v)
        }
        for c in all_containers(spec):
            mounts = {m["mountPath"].rstrip("/") + "/": m for m in c.get("volumeMounts", [])}
            env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
            assert "UCRENEW_STATE_DIR" in env, f"{path.name}: the image's default, made explicit"
            for name, value in env.items():
                inside = [m for root, m in mounts.items() if (value + "/").startswith(root)]
                if name in READ_PATHS:
                    assert inside, f"{path.name} {c['name']}: {name}={value} is not mounted"
                if name in WRITE_DIRS:
                    assert inside and not inside[0].get("readOnly"), f"{path.name} {name}"
                    assert inside[0]["name"] in writable_volumes, f"{path.name} {name}"
