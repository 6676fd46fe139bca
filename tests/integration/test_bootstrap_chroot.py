"""The rendered host bootstrap, executed for real inside a throwaway Debian root filesystem.

A Debian root filesystem is built once with ``debootstrap`` (from the Debian mirror this machine's
apt sources already use) and cached as a tarball under ``/var/cache/enclii-test-rootfs``; each test
unpacks a fresh copy and runs the rendered scripts in it with ``chroot``, as root, exactly as Pulumi
sends them to the AX41 (``/bin/sh -s`` with the script on stdin), then inspects what they left.

Executed: the admin step (user, authorized keys, sudo rule checked by visudo), the hardening step
(sshd drop-in checked by ``sshd -t``, kernel parameter files, module list, the nftables ruleset
checked by ``nft -c`` before it is installed, the firewall unit enabled, unattended-upgrades
configuration) and the k3s step (config.yaml, audit policy, Pod Security config, directory and file
modes, the installer call, the certificate permission fix), each twice to prove idempotence.

NOT executed here, and why:
- the real k3s installer and k3s itself: ``curl`` is replaced by a local stand-in that serves a
  stand-in installer, which records its environment and installs a stand-in ``k3s`` binary that
  reports the pinned version and answers the readiness probe; no download, no running cluster;
- everything the scripts do only on a booted host (they detect that systemd is not running in a
  chroot): ``sysctl --system``, ``modprobe``, starting the firewall unit (loading the ruleset into the
  kernel), reloading sshd, restarting k3s, waiting for cloud-init;
- ``apt-get install``: the packages the steps need are already in the root filesystem, so the
  "install only when missing" branch takes its already-installed path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from enclii_iac import defaults
from enclii_iac import host_defaults as hd
from enclii_iac.render import host as r
from tests.conftest import require
from tests.unit.host_fixtures import ax41, single_node_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(os.geteuid() == 0, "the bootstrap runs in a chroot: run the tests as root")
    require(shutil.which("debootstrap") is not None, "debootstrap is not installed (Debian package debootstrap)")

CACHE = Path(os.environ.get("ENCLII_ROOTFS_CACHE", "/var/cache/enclii-test-rootfs"))
PACKAGES = ("openssh-server", "nftables", "unattended-upgrades", "sudo", "systemd")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
       "HOME": "/root"}
VERSION = defaults.K3S_VERSION

FAKE_CURL = """#!/bin/sh
# stand-in for curl: records the URL and serves the stand-in installer
out=""
url=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    -o|--proto|--retry) [ "$1" = -o ] && out=$2; shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
mkdir -p /var/lib/enclii-test
printf '%s\\n' "$url" >> /var/lib/enclii-test/curl.log
cp /opt/enclii-test/install.sh "$out"
"""

FAKE_INSTALLER = """#!/bin/sh
# stand-in for the k3s installer: records its environment, installs a stand-in k3s
set -eu
mkdir -p /var/lib/enclii-test
printf 'INSTALL_K3S_VERSION=%s INSTALL_K3S_EXEC=%s config=%s\\n' "$INSTALL_K3S_VERSION" "$INSTALL_K3S_EXEC" \\
  "$(stat -c %a /etc/rancher/k3s/config.yaml)" >> /var/lib/enclii-test/installer.log
cat > /usr/local/bin/k3s <<EOF
#!/bin/sh
case "\\$1" in
  --version) echo "k3s version $INSTALL_K3S_VERSION (enclii test stand-in)"; echo "go version go0" ;;
  kubectl) exit 0 ;;
  *) exit 1 ;;
esac
EOF
chmod 0755 /usr/local/bin/k3s
mkdir -p /var/lib/rancher/k3s/server/tls
printf 'CERT\\n' > /var/lib/rancher/k3s/server/tls/server-ca.crt
chmod 0644 /var/lib/rancher/k3s/server/tls/server-ca.crt
"""


def debian_mirror() -> tuple[str, str]:
    """(mirror URI, suite) of the Debian release this machine's apt sources use."""
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    suite = release.get("VERSION_CODENAME", "").strip('"')
    assert suite, "cannot tell the Debian release (VERSION_CODENAME in /etc/os-release)"
    candidates: list[str] = []
    for path in sorted(Path("/etc/apt").glob("sources.list.d/*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split():
                candidates += fields.get("URIs", "").split()
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                candidates.append(next(w for w in words[1:] if not w.startswith("[")))
    assert candidates, f"no apt source for {suite} in /etc/apt (the rootfs comes from the same mirror)"
    return candidates[0], suite


def rootfs_tarball() -> Path:
    """The cached debootstrap tarball, built on first use (about a minute) under a lock."""
    mirror, suite = debian_mirror()
    key = hashlib.sha256(f"{suite} {mirror} {','.join(PACKAGES)}".encode()).hexdigest()[:12]
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"{suite}-minbase-{key}.tar"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        build = CACHE / f"build-{key}"
        shutil.rmtree(build, ignore_errors=True)
        res = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite,
                              str(build), mirror], capture_output=True, text=True)
        assert res.returncode == 0, f"debootstrap from {mirror} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(build), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
        shutil.rmtree(build, ignore_errors=True)
    return tarball


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tarball = rootfs_tarball()
    target = tmp_path / "root"
    target.mkdir()
    subprocess.run(["tar", "-C", str(target), "--numeric-owner", "-xf", str(tarball)], check=True)
    (target / "opt/enclii-test").mkdir(parents=True)
    (target / "opt/enclii-test/install.sh").write_text(FAKE_INSTALLER)
    curl = target / "usr/local/bin/curl"
    curl.write_text(FAKE_CURL)
    curl.chmod(0o755)
    return target


def run(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "/bin/sh", "-s"], input=script, capture_output=True, text=True,
                          env=ENV, timeout=300)


def chroot(root: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, env=ENV, timeout=60)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))[2:].rjust(4, "0")


def owner(root: Path, path: Path) -> str:
    uid = path.stat().st_uid
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if int(fields[2]) == uid:
            return fields[0]
    return str(uid)


def test_admin_and_hardening_steps(root: Path) -> None:
    spec = ax41()
    admin = r.render_admin_script(spec.admin_user, spec.admin_ssh_keys)
    files = r.dedicated_hardening_files("ax41", spec, peers=["203.0.113.11/32"])
    harden = r.render_harden_script(files)

    first = run(root, admin)
    assert first.returncode == 0, first.stderr
    assert "created user enclii" in first.stderr
    again = run(root, admin)
    assert again.returncode == 0 and "admin user enclii unchanged" in again.stderr, again.stderr

    passwd = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/passwd").read_text().splitlines()}
    assert passwd["enclii"][5:] == ["/home/enclii", "/bin/bash"]
    shadow = {ln.split(":")[0]: ln.split(":") for ln in (root / "etc/shadow").read_text().splitlines()}
    assert shadow["enclii"][1].startswith("!"), "the admin password must be locked"
    ssh_dir = root / "home/enclii/.ssh"
    keys = ssh_dir / "authorized_keys"
    assert mode(ssh_dir) == "0700" and owner(root, ssh_dir) == "enclii"
    assert mode(keys) == "0600" and owner(root, keys) == "enclii"
    assert keys.read_text() == r.render_authorized_keys(spec.admin_ssh_keys)
    sudoers = root / hd.SUDOERS_PATH.lstrip("/")
    assert mode(sudoers) == "0440" and owner(root, sudoers) == "root"
    assert sudoers.read_text().endswith("enclii ALL=(ALL:ALL) NOPASSWD: ALL\n")
    assert chroot(root, "visudo", "-c").returncode == 0

    first = run(root, harden)
    assert first.returncode == 0, first.stderr
    assert "systemd is not running" in first.stderr
    again = run(root, harden)
    assert again.returncode == 0 and "hardening unchanged" in again.stderr, again.stderr

    for f in files:
        path = root / f.path.lstrip("/")
        assert path.read_text() == f.content, f.path
        assert mode(path) == f.mode and owner(root, path) == "root", f.path
    assert list((root / "etc").rglob("*.enclii.*")) == []  # no temporary files left behind

    sshd = chroot(root, "/usr/sbin/sshd", "-T")
    assert sshd.returncode == 0, sshd.stderr
    effective = set(sshd.stdout.splitlines())
    assert {"permitrootlogin no", "passwordauthentication no", "kbdinteractiveauthentication no",
            "pubkeyauthentication yes", "authenticationmethods publickey", "allowusers enclii",
            "x11forwarding no", "allowtcpforwarding no", "maxauthtries 3", "port 22"} <= effective

    sysctl = (root / hd.SYSCTL_KUBELET_PATH.lstrip("/")).read_text()
    for line in ("vm.panic_on_oom = 0", "vm.overcommit_memory = 1", "kernel.panic = 10", "kernel.panic_on_oops = 1"):
        assert line in sysctl

    ruleset = root / hd.FIREWALL_RULESET_PATH.lstrip("/")
    check = subprocess.run(["nft", "-c", "-f", str(ruleset)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "policy drop;" in ruleset.read_text()
    wants = root / "etc/systemd/system/sysinit.target.wants" / hd.FIREWALL_UNIT
    assert wants.is_symlink() and os.readlink(wants).endswith(f"/etc/systemd/system/{hd.FIREWALL_UNIT}")

    auto = (root / hd.APT_AUTO_UPGRADES_PATH.lstrip("/")).read_text()
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    assert chroot(root, "dpkg-query", "-s", "unattended-upgrades").returncode == 0


def test_hardening_refuses_an_invalid_sshd_config_and_restores_the_old_one(root: Path) -> None:
    spec = ax41()
    assert run(root, r.render_admin_script(spec.admin_user, spec.admin_ssh_keys)).returncode == 0
    good = r.dedicated_hardening_files("ax41", spec)
    assert run(root, r.render_harden_script(good)).returncode == 0
    bad = [r.HostFile(hd.SSHD_DROPIN_PATH, "0600", "NoSuchSshdOption yes\n")]
    res = run(root, r.render_harden_script(bad))
    assert res.returncode != 0 and "sshd rejected the new configuration" in res.stderr
    assert (root / hd.SSHD_DROPIN_PATH.lstrip("/")).read_text() == good[0].content


def test_hardening_refuses_an_invalid_ruleset(root: Path) -> None:
    bad = [r.HostFile(hd.FIREWALL_RULESET_PATH, "0600", "table inet enclii { chain input { bogus } }\n",
                      "nft", ("-c", "-f"))]
    res = run(root, r.render_harden_script(bad, packages=()))
    assert res.returncode != 0 and "rejected by nft" in res.stderr
    assert not (root / hd.FIREWALL_RULESET_PATH.lstrip("/")).exists()


def test_k3s_step_with_a_stand_in_installer(root: Path) -> None:
    spec = single_node_cluster()
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", external_ip="203.0.113.10",
                           init=True, tls_sans=("api.enclii.example.com", "203.0.113.10"))
    cfg = r.k3s_config(spec, node, token="t" * 48, agent_token="a" * 48)
    script = r.render_k3s_install_script(version=VERSION, role="server", config=cfg, hardening=spec.hardening)

    first = run(root, script)
    assert first.returncode == 0, first.stderr
    assert f"k3s {VERSION} ready (server)" in first.stderr
    again = run(root, script)
    assert again.returncode == 0, again.stderr

    log = (root / "var/lib/enclii-test/installer.log").read_text().splitlines()
    assert log == [f"INSTALL_K3S_VERSION={VERSION} INSTALL_K3S_EXEC=server config=600"]  # once: idempotent
    assert (root / "var/lib/enclii-test/curl.log").read_text().splitlines() == [r.k3s_installer_url(VERSION)]

    config = root / hd.K3S_CONFIG_PATH.lstrip("/")
    assert mode(config) == "0600" and owner(root, config) == "root"
    assert yaml.safe_load(config.read_text()) == cfg
    for path in (hd.K3S_AUDIT_POLICY_PATH, hd.K3S_PSA_CONFIG_PATH):
        assert mode(root / path.lstrip("/")) == "0600"
    assert yaml.safe_load((root / hd.K3S_AUDIT_POLICY_PATH.lstrip("/")).read_text()) == r.audit_policy()
    assert mode(root / hd.K3S_SERVER_DIR.lstrip("/")) == "0700"
    assert mode(root / "var/lib/rancher/k3s/server/logs") == "0700"
    assert mode(root / "var/lib/rancher/k3s/server/tls/server-ca.crt") == "0600"


def test_a_new_version_runs_the_installer_again(root: Path) -> None:
    spec = single_node_cluster()
    node = r.K3sNodeConfig(name="w1", role="agent", node_ip="10.0.1.21", join_url="https://10.0.1.11:6443")
    cfg = r.k3s_config(spec, node, token="t" * 48, agent_token="a" * 48)
    for version in (VERSION, "v1.33.5+k3s1"):
        res = run(root, r.render_k3s_install_script(version=version, role="agent", config=cfg))
        assert res.returncode == 0, res.stderr
    log = (root / "var/lib/enclii-test/installer.log").read_text().splitlines()
    assert [line.split()[0] for line in log] == [f"INSTALL_K3S_VERSION={VERSION}",
                                                 "INSTALL_K3S_VERSION=v1.33.5+k3s1"]
    assert all("INSTALL_K3S_EXEC=agent" in line for line in log)
