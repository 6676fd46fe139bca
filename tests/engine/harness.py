"""The engine tier's local cluster and Pulumi CLI runner (used by tests/engine and bench/engine_scale.py).

``LocalCluster`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (one fake
node with the AX41's capacity) on random loopback ports, each in its own process group with a parent-death
signal, records their PIDs, and stops them by PID. Every wait is bounded; logs stay in ``workdir/logs``.
A background helper plays the two controllers a bare API server lacks: it provisions a PersistentVolume
for each pending claim (as k3s's local-path provisioner does), publishes a load-balancer status on each
Ingress (as Traefik does when it is told its published address), and finishes Job pods kwok left Running.

``Pulumi`` runs the real CLI with a file backend and a passphrase, in a temporary PULUMI_HOME, exactly
as a user would type the commands.

The binaries come from ``tools/engine/build.sh`` (a cache outside the repository, keyed by versions);
etcd from Debian's ``etcd-server``. A missing one is an error naming the command that provides it.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "tools" / "engine" / "build.sh"
ENGINE_BINARIES = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-kubernetes",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)
ADMIN_TOKEN = "enclii-engine-tier-admin"  # a throwaway token of a loopback-only test cluster
PASSPHRASE = "enclii-engine-tier"
ADMISSION_PLUGINS = (
    "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,ResourceQuota,PodSecurity,"
    "NodeRestriction,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy"
)
# One AX41-NVME: 6 cores / 12 threads, 64 GB, 2 x 512 GB NVMe (RAID 1).
NODE_NAME = "ax41"
NODE_CAPACITY = {"cpu": "12", "memory": "64Gi", "ephemeral-storage": "476Gi", "pods": "110"}


class ApiError(RuntimeError):
    """An HTTP error status from the local API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EngineMissing(RuntimeError):
    """A binary or tool of the engine tier is not installed; the message says how to get it."""


def engine_cache() -> Path:
    env = os.environ.get("ENCLII_ENGINE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "enclii-engine"


def engine_bin() -> Path:
    """The directory of the engine binaries; EngineMissing names the build command when one is absent."""
    bin_dir = engine_cache() / "bin"
    missing = [n for n in ENGINE_BINARIES if not os.access(bin_dir / n, os.X_OK)]
    if missing:
        raise EngineMissing(
            f"engine binaries missing from {bin_dir}: {', '.join(missing)}; build them with "
            f"`bash {BUILD_SCRIPT.relative_to(ROOT)}` (about 35 min cold on 2 cores, cached afterwards)"
        )
    for tool in ("etcd", "openssl"):
        if shutil.which(tool) is None:
            pkg = "etcd-server" if tool == "etcd" else tool
            raise EngineMissing(f"{tool} is not on PATH; install it with `apt-get install {pkg}`")
    return bin_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def reap_stale(run_dir: Path) -> None:
    """Kill the processes of earlier runs whose test process died without stopping them."""
    if not run_dir.is_dir():
        return
    for pid_file in run_dir.glob("*.pids"):
        try:
            owner = int(pid_file.stem)
            os.kill(owner, 0)
            continue  # that run is still alive
        except (ValueError, ProcessLookupError):
            pass
        except PermissionError:
            continue
        for line in pid_file.read_text().split():
            with contextlib.suppress(ValueError):
                _kill_group(int(line), signal.SIGKILL)
        pid_file.unlink(missing_ok=True)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d: Path) -> None:
    """A CA, the API server's serving certificate and the service-account key pair."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "2", "-subj", "/CN=enclii-engine-tier-ca", cwd=d)
    (d / "san.cnf").write_text(
        "[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver", cwd=d)
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", "2", "-extfile", "san.cnf", "-extensions", "ext", cwd=d)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)


def kubeconfig(server: str, ca_file: Path, token: str) -> str:
    ca = base64.b64encode(ca_file.read_bytes()).decode()
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "engine-tier", "cluster": {"server": server, "certificate-authority-data": ca}}],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "engine-tier", "context": {"cluster": "engine-tier", "user": "admin"}}],
            "current-context": "engine-tier",
        },
        indent=2,
    )


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class LocalCluster:
    """A Kubernetes control plane and one fake AX41 node on loopback, for the engine tier."""

    workdir: Path
    extra_apiserver_args: Sequence[str] = ()
    node_capacity: Mapping[str, str] = field(default_factory=lambda: dict(NODE_CAPACITY))
    """What the kwok node advertises; the AX41's by default (a benchmark may ask for more pods)."""
    start_timeout: float = 180.0
    procs: list[Proc] = field(default_factory=list)
    server: str = ""
    kubeconfig_path: Path = field(default_factory=Path)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ssl_context: ssl.SSLContext | None = None
    _helper: threading.Thread | None = None
    helper_errors: list[str] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def _pid_file(self) -> Path:
        return engine_cache() / "run" / f"{os.getpid()}.pids"

    # -- processes ------------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        fh = log.open("ab")
        popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=self.workdir, preexec_fn=_die_with_parent)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self._pid_file.open("a") as f:
            f.write(f"{popen.pid}\n")
        return proc

    def _wait(self, what: str, check: Any, timeout: float, proc: Proc | None = None) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if proc is not None and proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{self.tail(proc.name)}")
            try:
                if check():
                    return
            except Exception as exc:
                last = exc
            time.sleep(0.5)
        tail = self.tail(proc.name) if proc else ""
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s (last error: {last})\n{tail}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- API ------------------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=str(self.workdir / "pki" / "ca.crt"))
        return self._ssl_context

    def api(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """One request to the API server as the admin; ApiError on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = exc.read().decode(errors="replace")
            raise ApiError(exc.code, f"{method} {path}: {exc.code} {detail[:500]}") from None
        return json.loads(raw) if raw and raw[:1] in b"{[" else raw.decode()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        bin_dir = engine_bin()
        res = subprocess.run([str(bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig_path), *args],
                             input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> LocalCluster:
        bin_dir = engine_bin()
        reap_stale(self._pid_file.parent)
        pki = self.workdir / "pki"
        make_certs(pki)
        (pki / "tokens.csv").write_text(f"{ADMIN_TOKEN},admin,admin-uid,system:masters\n")
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd = self._spawn("etcd", [
            shutil.which("etcd") or "etcd", "--data-dir", str(self.workdir / "etcd"), "--name", "engine-tier",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"engine-tier=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--quota-backend-bytes", str(4 * 1024**3), "--log-level", "warn",
        ])

        def etcd_ok() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{etcd_port}/health", timeout=2) as r:
                    return b"true" in r.read()
            except urllib.error.HTTPError as exc:
                exc.close()
                return False

        self._wait("etcd", etcd_ok, 30, etcd)
        self.server = f"https://127.0.0.1:{api_port}"
        api = self._spawn("kube-apiserver", [
            str(bin_dir / "kube-apiserver"), "--etcd-servers", f"http://127.0.0.1:{etcd_port}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(api_port),
            "--tls-cert-file", str(pki / "apiserver.crt"), "--tls-private-key-file", str(pki / "apiserver.key"),
            "--client-ca-file", str(pki / "ca.crt"), "--token-auth-file", str(pki / "tokens.csv"),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", str(pki / "sa.pub"),
            "--service-account-signing-key-file", str(pki / "sa.key"),
            "--service-cluster-ip-range", "10.96.0.0/16", "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", ADMISSION_PLUGINS, "--allow-privileged=false", "--profiling=false",
            "--enable-priority-and-fairness=false", "--watch-cache=true", *self.extra_apiserver_args,
        ])
        self._wait("kube-apiserver", lambda: self.api("GET", "/readyz") == "ok", self.start_timeout, api)
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.kubeconfig_path.write_text(kubeconfig(self.server, pki / "ca.crt", ADMIN_TOKEN))
        self.kubeconfig_path.chmod(0o600)
        kc = str(self.kubeconfig_path)
        self._spawn("kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"), "--kubeconfig", kc, "--authentication-kubeconfig", kc,
            "--authorization-kubeconfig", kc, "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
            "--service-account-private-key-file", str(pki / "sa.key"), "--root-ca-file", str(pki / "ca.crt"),
            "--use-service-account-credentials=true", "--leader-elect=false", "--cluster-name", "engine-tier",
            # no node-lifecycle-controller: kwok's fake node must never be judged unreachable when a loaded
            # machine delays its heartbeats (pods would be marked unready mid-test); the start-up taint it
            # would lift is lifted below
            "--controllers", "*,-node-ipam-controller,-node-lifecycle-controller,-cloud-node-lifecycle-controller,"
            "-service-lb-controller,"
            "-node-route-controller,-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller",
            "--concurrent-deployment-syncs", "10",
            "--concurrent-replicaset-syncs", "10", "--concurrent-job-syncs", "10",
        ])
        self._spawn("kube-scheduler", [
            str(bin_dir / "kube-scheduler"), "--kubeconfig", kc, "--authentication-kubeconfig", kc,
            "--authorization-kubeconfig", kc, "--bind-address", "127.0.0.1", "--secure-port", str(free_port()),
            "--leader-elect=false",
        ])
        stages = engine_cache() / "kwok-stages"
        stage_file = self.workdir / "kwok-stages.yaml"
        docs = [p.read_text() for p in sorted(stages.glob("*.yaml"))]
        stage_file.write_text("\n---\n".join(d for d in docs if "kind: Stage" in d))
        self._spawn("kwok", [
            str(bin_dir / "kwok"), "--kubeconfig", kc, "--config", str(stage_file),
            "--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
            "--node-ip", "127.0.0.1", "--server-address", f"127.0.0.1:{free_port()}",
            "--cidr", "10.42.0.0/16", "--node-lease-duration-seconds", "40",
        ])
        self.api("POST", "/api/v1/nodes", self._node())
        self.api("POST", "/apis/storage.k8s.io/v1/storageclasses", {
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "local-path",
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        })

        def node_ready() -> bool:
            node = self.api("GET", f"/api/v1/nodes/{NODE_NAME}")
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
            if ready and node["spec"].get("taints"):  # node.kubernetes.io/not-ready, set when the node was created
                self.api("PATCH", f"/api/v1/nodes/{NODE_NAME}", {"spec": {"taints": None}},
                         content_type="application/merge-patch+json")
                return False
            return ready and not node["spec"].get("taints")

        self._wait("the kwok node", node_ready, 90)
        self._wait("the default service account", lambda: bool(
            self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")), 60)
        self._helper = threading.Thread(target=self._assist, name="engine-tier-assist", daemon=True)
        self._helper.start()
        return self

    def _node(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/control-plane": "true", "type": "kwok",
                },
            },
            "spec": {},
            "status": {"capacity": dict(self.node_capacity), "allocatable": dict(self.node_capacity)},
        }

    def stop(self) -> None:
        self._stop.set()
        if self._helper is not None:
            self._helper.join(timeout=10)
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                _kill_group(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            if proc.popen.poll() is None:
                _kill_group(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=10)
        self._pid_file.unlink(missing_ok=True)

    def alive(self) -> list[str]:
        return [p.name for p in self.procs if p.popen.poll() is None]

    # -- the controllers a bare control plane lacks -----------------------------------------------------
    def _assist(self) -> None:
        while not self._stop.wait(1.0):
            for step in (self._provision_volumes, self._publish_ingress_status, self._finish_job_pods):
                try:
                    step()
                except Exception as exc:
                    self.helper_errors.append(f"{step.__name__}: {exc}")
                    del self.helper_errors[:-20]

    def _provision_volumes(self) -> None:
        for pvc in self.api("GET", "/api/v1/persistentvolumeclaims")["items"]:
            if pvc["status"].get("phase") != "Pending" or pvc["spec"].get("volumeName"):
                continue
            meta = pvc["metadata"]
            if "volume.kubernetes.io/selected-node" not in meta.get("annotations", {}):
                continue  # WaitForFirstConsumer: provision once the scheduler picked the node
            name = f"pv-{meta['uid']}"
            self.api("POST", "/api/v1/persistentvolumes", {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}},
                "spec": {
                    "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
                    "accessModes": pvc["spec"]["accessModes"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": pvc["spec"].get("storageClassName", "local-path"),
                    "hostPath": {"path": f"/var/lib/fake-local-path/{name}", "type": "DirectoryOrCreate"},
                    "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}]}]}},
                },
            })
        for pv in self.api("GET", "/api/v1/persistentvolumes")["items"]:
            if pv["status"].get("phase") == "Released":  # reclaimPolicy Delete: the provisioner deletes it
                with contextlib.suppress(ApiError):
                    self.api("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")

    def _publish_ingress_status(self) -> None:
        for ing in self.api("GET", "/apis/networking.k8s.io/v1/ingresses")["items"]:
            if ing.get("status", {}).get("loadBalancer", {}).get("ingress"):
                continue
            meta = ing["metadata"]
            self.api(
                "PATCH",
                f"/apis/networking.k8s.io/v1/namespaces/{meta['namespace']}/ingresses/{meta['name']}/status",
                {"status": {"loadBalancer": {"ingress": [{"hostname": "traefik.kube-system.svc"}]}}},
                content_type="application/merge-patch+json",
            )

    def _finish_job_pods(self) -> None:
        pods = self.api("GET", "/api/v1/pods?labelSelector=batch.kubernetes.io/job-name")["items"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for pod in pods:
            status = pod.get("status", {})
            if status.get("phase") != "Running":
                continue
            started = [c for c in status.get("containerStatuses", []) if "running" in c.get("state", {})]
            if not started:
                continue
            meta = pod["metadata"]
            terminated = [
                {**c, "ready": False, "started": False,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
                for c in status.get("containerStatuses", [])
            ]
            conditions = [
                {**c, "status": "False", "reason": "PodCompleted"} if c["type"] in ("Ready", "ContainersReady") else c
                for c in status.get("conditions", [])
            ]
            self.api(
                "PATCH",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": {"phase": "Succeeded", "containerStatuses": terminated, "conditions": conditions}},
                content_type="application/merge-patch+json",
            )


@contextlib.contextmanager
def local_cluster(workdir: Path, **kwargs: Any) -> Iterator[LocalCluster]:
    cluster = LocalCluster(workdir, **kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


# --- the Pulumi CLI -----------------------------------------------------------------------------------
class PulumiError(RuntimeError):
    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        out = (result.stdout[-6000:] + "\n" + result.stderr[-6000:]).strip()
        super().__init__(f"pulumi {' '.join(args)} exited {result.returncode}:\n{out}")


@dataclass
class Pulumi:
    """The real Pulumi CLI in one project directory, with a file backend and a passphrase."""

    project_dir: Path
    home: Path
    backend: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        bin_dir = engine_bin()
        venv_bin = ROOT / ".venv" / "bin"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.update({
            "PATH": f"{bin_dir}{os.pathsep}{venv_bin}{os.pathsep}{env.get('PATH', '')}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.backend}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_COPILOT": "false",
            **self.extra_env,
        })
        return env

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 900,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        self.home.mkdir(parents=True, exist_ok=True)
        self.backend.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        res = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=cwd or self.project_dir, env=self.env(),
                             input=input, capture_output=True, text=True, timeout=timeout)
        self.log.append(f"$ pulumi {' '.join(args)}  # rc={res.returncode} {time.monotonic() - started:.1f}s")
        if check and res.returncode != 0:
            raise PulumiError(args, res)
        return res

    def preview_steps(self, *args: str) -> list[dict[str, Any]]:
        """``pulumi preview --json``: the planned steps (op, urn, type, diffs)."""
        res = self.run("preview", "--json", *args)
        return list(json.loads(res.stdout).get("steps", []))

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        return dict(json.loads(self.run(*args).stdout))

    def urns(self) -> list[str]:
        state = json.loads(self.run("stack", "export").stdout)
        return [r["urn"] for r in state["deployment"].get("resources", [])]
