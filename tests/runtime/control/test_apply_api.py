"""Coserve.ApplyDeployment through the real control plane (uvicorn on 127.0.0.1), sent as `coserve apply`
sends it (runtime.cli.apply.send: the document, SigV4-signed with botocore). No reconciler runs here: the
tests move endpoints on through the store, as the reconciler does (FakeReconciler)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from runtime.auth.build import build_authenticator
from runtime.cli.apply import ApplyError, send
from runtime.control.authz import SigV4Guard
from runtime.control.store import Store
from tests.runtime.control.conftest import FakeReconciler, Served, serve
from tests.runtime.control.helpers import ACCOUNT_ARN

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": f"{ACCOUNT_ARN}:model/team-a-*"},
        {"Effect": "Allow", "Action": "sagemaker:CreateEndpointConfig",
         "Resource": f"{ACCOUNT_ARN}:endpoint-config/team-a-*"},
        {"Effect": "Allow", "Action": "sagemaker:CreateEndpoint", "Resource": f"{ACCOUNT_ARN}:endpoint/team-a-*"},
        {"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*"},
    ],
}  # fmt: skip


def _doc(endpoint: str = "team-a-ep", name: str = "v1", **coserve: Any) -> dict[str, Any]:
    return {
        "EndpointName": endpoint,
        "Containers": [{"ContainerHostname": "feat", "Image": "process", "ModelDataUrl": "/srv/feat.tar.gz",
                        "Environment": {"NAME": name}}],
        "Coserve": {"Containers": {"feat": {"Command": ["python", "-m", "feat"]}}, **coserve},
    }  # fmt: skip


def _session(key: str | None = None, secret: str | None = None) -> Any:
    """A botocore session with exactly these credentials (None: none at all, so the request goes unsigned)."""
    session = botocore.session.Session()
    if key is None:
        session.get_credentials = lambda: None  # no credential chain: what a machine without any finds
    else:
        session.set_credentials(key, secret)
    return session


@pytest.fixture
def guarded(store: Store, tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "secret").write_text("s3cret\n")
    auth = {"Principals": [{"AccessKeyId": "AKIDTEAMA", "Name": "team-a", "SecretAccessKeyFile": "secret",
                            "Policies": [POLICY]}]}  # fmt: skip
    served = serve(store, guard=SigV4Guard(build_authenticator(auth, tmp_path)))
    yield served
    served.stop()


def _models(store: Store) -> list[str]:
    with store.transaction(write=False) as tx:
        return sorted(m.name for m in tx.resources("model"))


def test_applied_as_a_file_is_at_start(served: Served, store: Store, reconciler: FakeReconciler) -> None:
    none = _session()
    out = send(served.url, _doc(Server={"LogDir": "/var/log/x"}), none, "us-east-1")
    assert out["Outcome"] == "created" and out["EndpointArn"] == f"{ACCOUNT_ARN}:endpoint/team-a-ep"
    assert out["HostSettingsNotApplied"] == ["Coserve.Server"]
    e: Any = store.endpoint("team-a-ep")
    assert e.status == "Creating" and e.coserve == {"Containers": {"feat": {"Command": ["python", "-m", "feat"]}}}
    assert e.target.config_name == out["EndpointConfigName"]
    reconciler.succeed("team-a-ep")
    # Host settings are not the endpoint's: changing them changes nothing.
    assert send(served.url, _doc(Server={"LogDir": "/elsewhere"}), none, "us-east-1")["Outcome"] == "unchanged"
    again = send(served.url, _doc(name="v2"), none, "us-east-1")
    assert again["Outcome"] == "updated" and again["EndpointConfigName"] != out["EndpointConfigName"]
    assert store.endpoint("team-a-ep").status == "Updating"  # type: ignore[union-attr]


def test_a_bad_document_is_refused_and_writes_nothing(served: Served, store: Store) -> None:
    none = _session()
    bad = _doc()
    bad["Coserve"]["Containers"]["feat"]["Memory"] = "lots"
    with pytest.raises(ApplyError, match=r"ValidationException: .*Coserve.Containers.feat.Memory") as caught:
        send(served.url, bad, none, "us-east-1")
    assert caught.value.code == 2
    with pytest.raises(ApplyError, match="ValidationException: EndpointName: required") as caught:
        send(served.url, {"Coserve": {}}, none, "us-east-1")
    assert caught.value.code == 2
    with pytest.raises(ApplyError, match="ValidationException: Colour: unknown key"):
        send(served.url, {**_doc(), "Colour": "blue"}, none, "us-east-1")
    assert store.endpoints() == [] and _models(store) == []


def test_authorized_as_the_calls_it_makes(guarded: Served, store: Store, reconciler: FakeReconciler) -> None:
    with pytest.raises(ApplyError, match="MissingAuthenticationTokenException") as caught:
        send(guarded.url, _doc(), _session(), "us-east-1")
    assert caught.value.code == 1
    with pytest.raises(ApplyError, match="InvalidSignatureException"):
        send(guarded.url, _doc(), _session("AKIDTEAMA", "wrong"), "us-east-1")
    team_a = _session("AKIDTEAMA", "s3cret")
    assert send(guarded.url, _doc(), team_a, "us-east-1")["Outcome"] == "created"
    made = _models(store)
    # Another team's endpoint name: the endpoint config (named after it) is refused before anything is written.
    with pytest.raises(ApplyError, match=r"AccessDeniedException: .* sagemaker:CreateEndpointConfig on resource: "
                       rf"{ACCOUNT_ARN}:endpoint-config/team-b-ep-"):  # fmt: skip
        send(guarded.url, {**_doc("team-b-ep"), "ModelName": "team-a-b"}, team_a, "us-east-1")
    # The endpoint exists now: applying again is an UpdateEndpoint, which team-a may not do.
    reconciler.succeed("team-a-ep")
    with pytest.raises(ApplyError, match=r"sagemaker:UpdateEndpoint on resource: .*:endpoint/team-a-ep "):
        send(guarded.url, _doc(name="v2"), team_a, "us-east-1")
    assert _models(store) == made and [e.name for e in store.endpoints()] == ["team-a-ep"]
    assert store.endpoint("team-a-ep").status == "InService"  # type: ignore[union-attr]
