"""Defaults and pinned versions of the host and cluster layer, each with the reason for it.

Kept apart from ``defaults.py`` (owned by the foundation) so the host/cluster work can evolve alone;
``K3S_VERSION`` itself stays in ``defaults.py``. Nothing here floats.
"""

from __future__ import annotations

from typing import Final

# --- Hetzner Cloud ----------------------------------------------------------------------------------
CLOUD_SERVER_TYPE: Final = "cpx32"
"""4 vCPU / 8 GB / 160 GB: the successor of cpx31, which can no longer be ordered after 2025-12-31."""
CLOUD_IMAGE: Final = "debian-12"
"""Same OS as the AX41, so one set of hardening steps and one executed test cover both."""
CLOUD_LOCATION: Final = "fsn1"
"""Falkenstein: the data centre park of the AX41, so private traffic stays close."""
NETWORK_ZONE: Final = "eu-central"
"""Network zone of fsn1, nbg1 and hel1."""
NETWORK_IP_RANGE: Final = "10.0.0.0/16"
"""Private network range; does not overlap the k3s pod (10.42/16) and service (10.43/16) ranges."""
NETWORK_SUBNET: Final = "10.0.1.0/24"
"""Subnet cloud servers attach to."""
DEPRECATED_SERVER_TYPES: Final = frozenset({"cpx11", "cpx21", "cpx31", "cpx41", "cpx51",
                                            "cx22", "cx32", "cx42", "cx52"})
"""Hetzner server types deprecated on 2025-10-16 and no longer orderable after 2025-12-31."""

# --- Host OS ----------------------------------------------------------------------------------------
ADMIN_USER: Final = "enclii"
"""Unprivileged login (sudo) Pulumi and operators use once root login is closed."""
BOOTSTRAP_USER: Final = "root"
"""Account the first step of an adopted server logs in as (Hetzner's installimage only has root)."""
AX41_CPU: Final = 12
"""Logical CPUs of the AX41-NVME (AMD Ryzen 5 3600: 6 cores, 12 threads), as the kubelet reports them."""
AX41_MEMORY: Final = "64Gi"
"""Memory of the AX41-NVME (64 GB DDR4)."""
CLOUD_SERVER_CAPACITY: Final = {
    # type: (vCPUs, memory) of current Hetzner Cloud types, for checking quotas against nodes
    "cx23": (2, "4Gi"), "cx33": (4, "8Gi"), "cx43": (8, "16Gi"), "cx53": (16, "32Gi"),
    "cpx12": (1, "2Gi"), "cpx22": (2, "4Gi"), "cpx32": (4, "8Gi"), "cpx42": (8, "16Gi"), "cpx52": (12, "24Gi"),
    "cpx62": (16, "32Gi"),
    "cax11": (2, "4Gi"), "cax21": (4, "8Gi"), "cax31": (8, "16Gi"), "cax41": (16, "32Gi"),
    "ccx13": (2, "8Gi"), "ccx23": (4, "16Gi"), "ccx33": (8, "32Gi"), "ccx43": (16, "64Gi"), "ccx53": (32, "128Gi"),
    "ccx63": (48, "192Gi"),
}
"""A type not listed here has unknown capacity: its node is left out of the quota checks (with a warning)."""
SSH_PORT: Final = 22
"""sshd port; a different port is no security control, an allow-list is."""
FIREWALL_TABLE: Final = "enclii"
"""nftables table (family inet) enclii_iac owns; other tables (k3s, kube-proxy) are never touched."""
FIREWALL_RULESET_PATH: Final = "/etc/enclii/nftables.conf"
"""Where the host firewall ruleset lives (not /etc/nftables.conf, whose Debian default flushes all tables)."""
FIREWALL_UNIT: Final = "enclii-firewall.service"
"""systemd unit that loads the ruleset at boot, before the network is up."""
SSHD_DROPIN_PATH: Final = "/etc/ssh/sshd_config.d/50-enclii.conf"
"""sshd drop-in; Debian's sshd_config includes sshd_config.d first, so its values win."""
SYSCTL_KUBELET_PATH: Final = "/etc/sysctl.d/90-kubelet.conf"
"""Kernel parameters k3s's protect-kernel-defaults requires (k3s CIS hardening guide)."""
SYSCTL_HARDENING_PATH: Final = "/etc/sysctl.d/80-enclii-hardening.conf"
"""Network and kernel hardening parameters."""
SUDOERS_PATH: Final = "/etc/sudoers.d/90-enclii-admin"
"""sudoers drop-in of the admin user."""
APT_AUTO_UPGRADES_PATH: Final = "/etc/apt/apt.conf.d/20auto-upgrades"
"""Enables the daily unattended-upgrades run."""
APT_UNATTENDED_PATH: Final = "/etc/apt/apt.conf.d/52enclii-unattended-upgrades"
"""enclii's unattended-upgrades settings (security origins, reboot policy)."""
HOST_PACKAGES: Final = ("nftables", "sudo", "unattended-upgrades")
"""Debian packages the hardening steps need; installed only when missing."""

# --- k3s --------------------------------------------------------------------------------------------
K3S_INSTALLER_URL: Final = "https://raw.githubusercontent.com/k3s-io/k3s/{version}/install.sh"
"""The install script at the pinned release tag, never the floating get.k3s.io."""
K3S_CONFIG_PATH: Final = "/etc/rancher/k3s/config.yaml"
K3S_KUBECONFIG_PATH: Final = "/etc/rancher/k3s/k3s.yaml"
K3S_SERVER_DIR: Final = "/var/lib/rancher/k3s/server"
K3S_AUDIT_POLICY_PATH: Final = "/var/lib/rancher/k3s/server/audit.yaml"
K3S_PSA_CONFIG_PATH: Final = "/var/lib/rancher/k3s/server/psa.yaml"
K3S_AUDIT_LOG_PATH: Final = "/var/lib/rancher/k3s/server/logs/audit.log"
CLUSTER_CIDR: Final = "10.42.0.0/16"
"""k3s default pod range."""
SERVICE_CIDR: Final = "10.43.0.0/16"
"""k3s default service range."""
API_PORT: Final = 6443
ETCD_SNAPSHOT_SCHEDULE: Final = "0 */6 * * *"
"""Every 6 hours: at most 6 hours of cluster state lost on the single AX41."""
ETCD_SNAPSHOT_RETENTION: Final = 28
"""7 days of 6-hourly snapshots."""
ETCD_S3_FOLDER: Final = "etcd"
"""Folder (key prefix) of etcd snapshots in the backup bucket."""
POD_MAX_PIDS: Final = 4096
"""kubelet pod-max-pids: a fork bomb in one pod cannot exhaust the node's PIDs."""
AUDIT_LOG_MAX_AGE_DAYS: Final = 30
AUDIT_LOG_MAX_BACKUPS: Final = 10
AUDIT_LOG_MAX_SIZE_MB: Final = 100
SYSTEM_UPGRADE_CONTROLLER_VERSION: Final = "v0.16.1"
"""rancher/system-upgrade-controller release whose manifests are applied (upgrades are opt-in)."""
SYSTEM_UPGRADE_MANIFEST_URL: Final = (
    "https://github.com/rancher/system-upgrade-controller/releases/download/{version}/{file}"
)
SYSTEM_UPGRADE_NAMESPACE: Final = "system-upgrade"
K3S_UPGRADE_IMAGE: Final = "rancher/k3s-upgrade"
"""Image the upgrade Plan runs; its tag is the pinned k3s version (controller maps '+' to '-')."""
SSH_DIAL_ERROR_LIMIT: Final = 40
"""SSH dial attempts before a step fails (a new cloud server needs a minute before sshd answers)."""
