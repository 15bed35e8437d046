"""deploy/kubernetes/ validates against a pinned Kubernetes schema, strictly, with no cluster; its config loads."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from shield.commands.rules import Target, check
from shield.settings.load import load_settings
from shield.settings.schema import Settings

KUBE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBE_VERSION = "1.33.0"  # the oldest Kubernetes these manifests promise to apply on


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(KUBE_DIR.glob("*.yaml")):
        docs.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def _find(kind: str, name: str) -> dict[str, Any]:
    return next(d for _f, d in _documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def _shield_container() -> dict[str, Any]:
    pod = _find("Deployment", "login")["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "shield")


@pytest.mark.parametrize(
    ("filename", "doc"),
    [pytest.param(f, d, id=f"{f}:{d['kind']}/{d['metadata']['name']}") for f, d in _documents()],
)
def test_manifest_validates_strictly(filename: str, doc: dict[str, Any]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    doc = _find("Service", "login")
    broken = {**doc, "spec": {**doc["spec"], "targetPort": 8000}}  # belongs under ports[]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_every_container_is_non_root_read_only_and_drops_capabilities() -> None:
    pod = _find("Deployment", "login")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for c in [*pod["containers"], *pod.get("initContainers", [])]:
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert c["resources"]["limits"], c["name"]
        assert c["resources"]["requests"], c["name"]


def test_shield_is_the_sidecar_the_service_targets_and_probes_hit_the_admin_port(tmp_path: Path) -> None:
    shield = _shield_container()
    ports = {p["name"]: p["containerPort"] for p in shield["ports"]}
    service_port = _find("Service", "login")["spec"]["ports"][0]["targetPort"]
    assert service_port == "http"
    assert ports["http"] == 8000
    assert shield["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert shield["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    settings = _settings(tmp_path)
    assert settings.listen.endswith(f":{ports['http']}")
    assert settings.admin.listen.endswith(f":{ports['admin']}")
    assert settings.upstream == "http://127.0.0.1:8080"
    app = next(c for c in _find("Deployment", "login")["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    assert "127.0.0.1:8080" in app["args"]  # the app is reachable only through shield


def test_writable_paths_are_empty_dirs() -> None:
    pod = _find("Deployment", "login")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in _shield_container()["volumeMounts"]}
    writable = [path for path, m in mounts.items() if not m.get("readOnly")]
    assert writable == ["/tmp"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]


def _settings(tmp_path: Path) -> Settings:
    """shield.yaml as the pod sees it: the Secret's keys mounted where the Deployment mounts them."""
    mount = next(m for m in _shield_container()["volumeMounts"] if m["name"] == "secrets")["mountPath"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in _find("Secret", "shield-secrets")["stringData"].items():
        (secrets / key).write_text(value)
    text = _find("ConfigMap", "shield-config")["data"]["shield.yaml"].replace(mount, str(secrets))
    path = tmp_path / "shield.yaml"
    path.write_text(text)
    return load_settings(path, env={})


def test_configmap_shield_yaml_loads_with_shields_own_loader(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert settings.rules == Path("/etc/shield/rules")
    assert [r.name for r in settings.routes] == ["login"]
    # the ingress range is trusted, and not everything is
    assert any(str(n) == "10.42.0.0/16" for n in settings.trusted_proxies)
    assert all(n.prefixlen > 0 for n in settings.trusted_proxies)
    assert settings.client.tls_fingerprint_header == "X-JA4"
    assert settings.secret
    assert settings.admin.token
    assert settings.admin.metrics_token
    assert settings.admin.metrics_token != settings.admin.token


def test_rules_configmap_passes_rules_check_as_mounted(tmp_path: Path) -> None:
    data = _find("ConfigMap", "shield-rules")["data"]
    pod = _find("Deployment", "login")["spec"]["template"]["spec"]
    items = next(v for v in pod["volumes"] if v["name"] == "rules")["configMap"]["items"]
    assert {i["key"] for i in items} == set(data)  # every key is mounted
    for item in items:
        target = tmp_path / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
    out, err = io.StringIO(), io.StringIO()
    assert check(Target(tmp_path, routes=["login"]), out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("ok: 3 rules")
