"""The scale-out recipes as CI checks them: Kubernetes manifests against a pinned Kubernetes schema
(kubernetes-validate, offline: it ships the schemas) and the CloudFormation template with cfn-lint (offline:
it ships the resource specifications). Each validator is also shown a broken document, so a validator that
passes everything cannot hide behind these tests."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.api
import kubernetes_validate
import pytest
import yaml

from tests.support import ROOT

pytestmark = pytest.mark.integration  # real servers on 127.0.0.1 (SeaweedFS, HTTP) or external tools

KUBERNETES = "1.33.0"  # the pinned Kubernetes API the manifests must fit (a release EKS and GKE both run)
K8S = ROOT / "images" / "k8s"
CFN = ROOT / "images" / "cloudformation"
RENDER = [sys.executable, str(K8S / "render.py"), str(K8S / "deploy.yaml"),
          "--image", "registry.example/coserve:0.1.0", "--secret", "coserve-clients"]  # fmt: skip


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docs() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((K8S / "coserve.yaml").read_text()))


def test_committed_manifests_are_what_render_writes() -> None:
    out = subprocess.run(RENDER, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out == (K8S / "coserve.yaml").read_text(), "images/k8s/coserve.yaml is stale: render it again (README)"


@pytest.mark.parametrize("doc", _docs(), ids=lambda d: f"{d['kind']}")
def test_manifest_fits_the_pinned_kubernetes_schema(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_kubernetes_validator_rejects_an_unknown_field() -> None:
    broken = copy.deepcopy(next(d for d in _docs() if d["kind"] == "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["pingPath"] = "/ping"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_pod_figures_come_from_the_deployment_file() -> None:
    deployment = next(d for d in _docs() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (box,) = pod["containers"]
    # Two containers of 1 GiB and 1 CPU each, plus coserve's own 256 MiB and half a core.
    assert box["resources"] == {"requests": {"memory": "2304Mi", "cpu": "2500m"},
                                "limits": {"memory": "2304Mi", "cpu": "2500m"}}  # fmt: skip
    # preStop 10 s + DrainTimeout 30 s + StopGrace 30 s + 10 s margin.
    assert pod["terminationGracePeriodSeconds"] == 80
    assert box["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert box[probe]["httpGet"] == {"path": "/ping", "port": "http"}
    assert "--allow-unauthenticated" not in box["args"], "the example has Coserve.Auth"
    # The least that per-model cgroups and mounts need: one capability, mount(2) past AppArmor, the rest default.
    assert box["securityContext"] == {"capabilities": {"add": ["SYS_ADMIN"]}, "appArmorProfile": {"type": "Unconfined"},
                                      "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    assert box["command"][:2] == ["/bin/sh", "-c"] and "remount,bind,rw" in box["command"][2]
    assert box["command"][2].endswith('exec /usr/bin/tini -- /opt/coserve/bin/coserve "$@"'), "the image's entrypoint"


def test_autoscaler_and_adapter_rule_name_the_same_metric() -> None:
    hpa = next(d for d in _docs() if d["kind"] == "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "10"}  # 600 a minute
    rules = yaml.safe_load((K8S / "prometheus-adapter.yaml").read_text())["rules"]
    assert [r["name"]["as"] for r in rules] == [metric["pods"]["metric"]["name"]]
    assert rules[0]["seriesQuery"].startswith("coserve_invocations_total{")


def test_render_sizes_serial_chains_and_refuses_unsized_containers(tmp_path: Path) -> None:
    render = _module(K8S / "render.py")
    run = ["python", "server.py"]
    doc = {"EndpointName": "Chain-Of-3", "InferenceExecutionConfig": {"Mode": "Serial"},
           "Containers": [{"ContainerHostname": h, "Image": "process"} for h in ("a", "b", "c")],
           "Coserve": {"Containers": {"a": {"Memory": "512MiB", "Cpus": 0.5, "Command": run},
                                      "b": {"Memory": "256MiB", "Command": run}, "c": {"Command": run}}}}  # fmt: skip
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(render.ConfigError, match=r"Coserve\.Containers\.c\.Memory"):
        render.render([str(path), "--image", "x"])
    doc["Coserve"]["Defaults"] = {"Memory": "128MiB"}
    path.write_text(yaml.safe_dump(doc))
    argv = [str(path), "--image", "x", "--invocations-per-instance", "60", "--security", "privileged"]
    docs = list(yaml.safe_load_all(render.render(argv)))
    pod = docs[1]["spec"]["template"]["spec"]["containers"][0]
    assert pod["resources"]["requests"] == {"memory": f"{512 + 256 + 128 + 256}Mi", "cpu": "1000m"}
    assert "cpu" not in pod["resources"]["limits"], "b and c have no Cpus: no CPU ceiling can be derived"
    assert "--allow-unauthenticated" in pod["args"]
    assert pod["securityContext"] == {"privileged": True} and "command" not in pod, "the image's own entrypoint"
    assert docs[1]["metadata"]["name"] == "chain-of-3"
    # 60 requests a minute is 1 a second, and each calls three containers.
    assert docs[4]["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "3"
    for d in docs:
        kubernetes_validate.validate(d, KUBERNETES, strict=True)


def _lint(text: str) -> list[str]:
    return [f"{m.rule.id} {m.message}" for m in cfnlint.api.lint(text)]


def test_cloudformation_template_passes_cfn_lint() -> None:
    assert _lint((CFN / "coserve-asg.yaml").read_text()) == []


def test_cfn_lint_rejects_a_broken_template() -> None:
    text = (CFN / "coserve-asg.yaml").read_text().replace("HealthCheckPath: /ping", "HealthCheckPathh: /ping")
    assert any("HealthCheckPathh" in m for m in _lint(text))


def test_template_user_data_is_user_data_sh() -> None:
    userdata = _module(CFN / "userdata.py")
    assert userdata.in_template() == userdata.user_data(userdata.SCRIPT.read_text()), (
        "images/user-data.sh changed: python images/cloudformation/userdata.py --write"
    )


def test_template_health_check_and_scaling() -> None:
    template = cfnlint.decode.decode_str((CFN / "coserve-asg.yaml").read_text())[0]
    assert template is not None
    resources = template["Resources"]
    group = resources["TargetGroup"]["Properties"]
    assert (group["HealthCheckPath"], group["Port"]) == ("/ping", 8080)
    tracking = resources["InvocationsPerInstancePolicy"]["Properties"]["TargetTrackingConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ALBRequestCountPerTarget"
