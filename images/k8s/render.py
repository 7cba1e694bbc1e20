"""Kubernetes manifests for one coserve deployment file, with figures taken from that file.

    python images/k8s/render.py DEPLOY.yaml --image REGISTRY/coserve:TAG [options] > coserve.yaml
    kubectl apply -f coserve.yaml

Writes a ConfigMap (the deployment file, verbatim), a Deployment, a Service, a PodDisruptionBudget and a
HorizontalPodAutoscaler. What comes from the file rather than from a hand-typed number:
- the pod's memory request and limit: the sum of the containers' `Memory` limits plus coserve's own;
- its CPU request: the sum of their `Cpus` plus coserve's own (a CPU limit only when every container has one);
- terminationGracePeriodSeconds: the preStop pause + Server.DrainTimeout + Server.StopGrace + a margin;
- the startup probe's patience: Server.StartupTimeout plus time to fetch the artifacts;
- the autoscaler's target: invocations per instance per minute, as SageMaker's `InvocationsPerInstance`,
  turned into calls into containers per second (a Serial request calls every container in the chain).
Run from the checkout's root with coserve installed: the file is read by coserve's own parser.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: coserve's parser is the authority

from runtime.config import ConfigError, Deployment  # noqa: E402
from runtime.config.parse import parse_deployment  # noqa: E402

MIB = 2**20
PRESTOP_S = 10  # a terminating pod leaves the Service's endpoints; kube-proxy and ingresses need a moment
MARGIN_S = 10  # between coserve's last SIGKILL and the kubelet's
FETCH_ALLOWANCE_S = 120  # artifacts are fetched before StartupTimeout's clock starts
METRIC = "coserve_invocations_per_second"  # the name the adapter rule (prometheus-adapter.yaml) gives it
CONFIG_PATH = "/etc/coserve/deploy.yaml"
# Before coserve starts: the runtime mounts the pod's own cgroup read-only; CAP_SYS_ADMIN may remount it
# writable, which is all coserve needs to make a cgroup per model below it. If that fails, coserve still
# serves, and says loudly that limits are off. Then the image's own entrypoint: tini, then coserve.
REMOUNT_CGROUPS = (
    "while read -r _ point fs _; do case $fs in cgroup|cgroup2) "
    'mount -o remount,bind,rw "$point" || echo "coserve-pod: cannot make $point writable" >&2;; '
    "esac; done </proc/self/mounts; "
    'exec /usr/bin/tini -- /opt/coserve/bin/coserve "$@"'
)
SECURITY = {
    # CAP_SYS_ADMIN: the remount above and a private mount namespace per model (/opt/ml/model). AppArmor's
    # default profiles refuse mount(2) whatever the capability. Seccomp stays the runtime's default.
    "least": {"capabilities": {"add": ["SYS_ADMIN"]}, "appArmorProfile": {"type": "Unconfined"},
              "seccompProfile": {"type": "RuntimeDefault"}},
    "privileged": {"privileged": True},
}  # fmt: skip


def load(path: Path) -> tuple[str, Deployment, bool]:
    """The file's text, its parsed settings, and whether it has Coserve.Auth. Auth is left out of the parse:
    its secrets live in the cluster, not on the machine that renders."""
    text = path.read_text()
    doc = yaml.safe_load(text)
    own = doc.get("Coserve") if isinstance(doc, dict) else None
    has_auth = isinstance(own, dict) and own.pop("Auth", None) is not None
    return text, parse_deployment(doc, path), has_auth


def pod_resources(d: Deployment, coserve_memory: int, coserve_cpu: float) -> dict[str, dict[str, str]]:
    missing = [c.hostname for c in d.containers if c.limits.memory_bytes is None]
    if missing:
        raise ConfigError([f"Coserve.Containers.{h}.Memory: needed to size the pod (or Coserve.Defaults.Memory)"
                           for h in missing], d.source)  # fmt: skip
    memory = sum(c.limits.memory_bytes or 0 for c in d.containers) + coserve_memory
    cpus = [c.limits.cpus for c in d.containers]
    cpu = sum(c or 0.0 for c in cpus) + coserve_cpu
    mem = f"{math.ceil(memory / MIB)}Mi"
    millicores = f"{math.ceil(cpu * 1000)}m"
    limits = {"memory": mem, **({"cpu": millicores} if all(c is not None for c in cpus) else {})}
    return {"requests": {"memory": mem, "cpu": millicores}, "limits": limits}


def grace_seconds(d: Deployment) -> int:
    return PRESTOP_S + math.ceil(d.server.drain_timeout_s + d.server.stop_grace_s) + MARGIN_S


def target_per_second(d: Deployment, per_instance_per_minute: float) -> str:
    calls = per_instance_per_minute * (len(d.containers) if d.mode == "Serial" else 1) / 60
    millis = math.ceil(calls * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def dns_name(endpoint: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", endpoint.lower()).strip("-")[:52] or "coserve"


def manifests(text: str, d: Deployment, has_auth: bool, opts: argparse.Namespace) -> list[dict[str, Any]]:
    name = opts.name or dns_name(d.endpoint_name)
    labels = {"app.kubernetes.io/name": "coserve", "app.kubernetes.io/instance": name}
    meta = {"name": name, "namespace": opts.namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{name}-deployment"},
         "data": {"deploy.yaml": text}},
        deployment(name, meta, labels, text, d, has_auth, opts),
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}},
        autoscaler(name, meta, d, opts),
    ]  # fmt: skip


def deployment(name: str, meta: dict[str, Any], labels: dict[str, str], text: str, d: Deployment,
               has_auth: bool, opts: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    # The file's hash in the pod template: editing the file and applying again rolls the pods.
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    annotations = {"coserve/deployment-sha256": digest, "prometheus.io/scrape": "true",
                   "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}  # fmt: skip
    pod = {
        "terminationGracePeriodSeconds": grace_seconds(d),
        "containers": [container(d, has_auth, opts)],
        "volumes": [
            {"name": "deployment", "configMap": {"name": f"{name}-deployment"}},
            *({"name": v, "emptyDir": {}} for v in ("cache", "logs", "run")),
        ],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {
            "replicas": opts.replicas, "selector": {"matchLabels": labels},
            # One new pod beside the old ones, never fewer ready than asked for.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
        },
    }  # fmt: skip


def container(d: Deployment, has_auth: bool, opts: argparse.Namespace) -> dict[str, Any]:
    args = ["serve", CONFIG_PATH, "--host", "0.0.0.0", "--port", "8080"]
    if not has_auth:
        args.append("--allow-unauthenticated")  # said on the command line, as the image's README asks
    ping = {"httpGet": {"path": "/ping", "port": "http"}, "timeoutSeconds": 2}
    startup = math.ceil((d.server.startup_timeout_s + FETCH_ALLOWANCE_S) / 5)
    out: dict[str, Any] = {
        "name": "coserve", "image": opts.image,
        **({"command": ["/bin/sh", "-c", REMOUNT_CGROUPS, "coserve"]} if opts.security == "least" else {}),
        "args": args,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": pod_resources(d, opts.coserve_memory_mib * MIB, opts.coserve_cpu),
        "securityContext": SECURITY[opts.security],
        "startupProbe": {**ping, "periodSeconds": 5, "failureThreshold": startup},
        "readinessProbe": {**ping, "periodSeconds": 5, "failureThreshold": 2},
        # A container coserve cannot bring back (FATAL) keeps /ping at 503: after a minute, a fresh pod.
        "livenessProbe": {**ping, "periodSeconds": 10, "failureThreshold": 6},
        # The Service drops a terminating pod at once, but its peers learn it late: keep serving meanwhile.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_S)]}}},
        "volumeMounts": [
            {"name": "deployment", "mountPath": "/etc/coserve", "readOnly": True},
            {"name": "cache", "mountPath": str(d.storage.cache_dir)},
            {"name": "logs", "mountPath": str(d.server.log_dir)},
            {"name": "run", "mountPath": str(d.server.run_dir)},
        ],
    }  # fmt: skip
    if opts.secret:
        out["envFrom"] = [{"secretRef": {"name": opts.secret}}]
    return out


def autoscaler(name: str, meta: dict[str, Any], d: Deployment, opts: argparse.Namespace) -> dict[str, Any]:
    target = target_per_second(d, opts.invocations_per_instance)
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": opts.replicas, "maxReplicas": opts.max_replicas,
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": METRIC},
                                                  "target": {"type": "AverageValue", "averageValue": target}}}],
            # SageMaker's defaults for target tracking: scale out after 60 s, in after 300 s.
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60},
                         "scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }  # fmt: skip


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people to read: no anchors, multi-line text (the deployment file) as a literal block."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("deployment", type=Path, help="the deployment file (JSON or YAML)")
    p.add_argument("--image", required=True, help="coserve's image (images/Dockerfile), e.g. REGISTRY/coserve:0.1.0")
    p.add_argument("--name", help="name of every object (default: the endpoint name, DNS-safe)")
    p.add_argument("--namespace", default="default")
    p.add_argument("--replicas", type=int, default=2, help="the fewest pods (default 2)")
    p.add_argument("--max-replicas", type=int, default=10)
    p.add_argument(
        "--invocations-per-instance",
        type=float,
        default=600.0,
        help="autoscaling target per pod per minute, as SageMaker's InvocationsPerInstance (600)",
    )
    p.add_argument("--coserve-memory-mib", type=int, default=256, help="coserve's own memory (default 256)")
    p.add_argument("--coserve-cpu", type=float, default=0.5, help="coserve's own CPU in cores (default 0.5)")
    p.add_argument(
        "--security",
        choices=sorted(SECURITY),
        default="least",
        help="least (default): CAP_SYS_ADMIN, AppArmor unconfined, cgroups remounted writable; "
        "privileged: a privileged container (for nodes where the first does not work)",
    )
    p.add_argument("--secret", help="a Secret whose keys become environment variables (SecretAccessKeyEnv)")
    return p


def render(argv: list[str]) -> str:
    opts = parser().parse_args(argv)
    text, d, has_auth = load(opts.deployment)
    if opts.max_replicas < opts.replicas:
        raise ConfigError([f"--max-replicas: must be at least --replicas ({opts.replicas})"], opts.deployment)
    return yaml.dump_all(manifests(text, d, has_auth, opts), Dumper=_Dumper, sort_keys=False, width=120)


def main() -> int:
    try:
        sys.stdout.write(render(sys.argv[1:]))
    except ConfigError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
