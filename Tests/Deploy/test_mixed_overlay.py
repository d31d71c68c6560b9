"""deploy/kubernetes/overlays/mixed: the base's DaemonSet on nodes without NVIDIA GPUs and the nvidia overlay's,
renamed footprint-exporter-gpu, on nodes with them, side by side. Checked like the other builds (kubectl kustomize,
then offline schema validation), and against them: each DaemonSet is its build's, plus node affinity and a
selector of its own, so the overlay cannot drift from the base or the nvidia overlay."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_VERSION = "1.32.0"
GPU_LABEL = "nvidia.com/gpu.present"


def kustomize(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl not found; install it with Tests/Deploy/install-deps.sh")
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def builds() -> dict[str, list[dict]]:
    return {name: kustomize(path) for name, path in (
        ("base", KUBERNETES), ("nvidia", KUBERNETES / "overlays" / "nvidia"),
        ("mixed", KUBERNETES / "overlays" / "mixed"))}


def daemonsets(docs: list[dict]) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "DaemonSet"}


def node_terms(daemonset: dict) -> list[dict]:
    affinity = daemonset["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    return affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]


def without_placement(daemonset: dict) -> dict:
    """The DaemonSet's pod spec without what the mixed overlay changes: affinity, the selector and component
    label, and the config map's hashed name (each half has its own copy)."""
    pod = copy.deepcopy(daemonset["spec"]["template"]["spec"])
    pod.pop("affinity", None)
    for volume in pod["volumes"]:
        if "configMap" in volume:
            volume["configMap"]["name"] = "footprint-exporter-config"
    return pod


def test_mixed_manifests_validate(builds):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = builds["mixed"]
    assert sorted(doc["kind"] for doc in docs) == sorted(
        ["Namespace", "ConfigMap", "ConfigMap", "Service", "DaemonSet", "DaemonSet", "ServiceMonitor",
         "PrometheusRule"])
    for doc in docs:
        schema = SCHEMAS / f"{doc['kind'].lower()}.schema.json"
        if schema.exists():
            jsonschema.validate(doc, json.loads(schema.read_text()))
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "footprint", doc["kind"]


def test_every_node_gets_exactly_one_exporter(builds):
    sets = daemonsets(builds["mixed"])
    assert set(sets) == {"footprint-exporter", "footprint-exporter-gpu"}
    (cpu_term,) = node_terms(sets["footprint-exporter"])
    (gpu_term,) = node_terms(sets["footprint-exporter-gpu"])
    assert cpu_term == {"matchExpressions": [{"key": GPU_LABEL, "operator": "NotIn", "values": ["true"]}]}
    assert gpu_term == {"matchExpressions": [{"key": GPU_LABEL, "operator": "In", "values": ["true"]}]}
    # Both still tolerate every taint.
    for daemonset in sets.values():
        assert {"operator": "Exists"} in daemonset["spec"]["template"]["spec"]["tolerations"]


def test_selectors_are_disjoint_and_the_service_selects_both(builds):
    docs = builds["mixed"]
    sets = daemonsets(docs)
    selectors = [d["spec"]["selector"]["matchLabels"] for d in sets.values()]
    for daemonset, selector in zip(sets.values(), selectors):
        labels = daemonset["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        for other in sets.values():
            if other is not daemonset:  # neither selects the other's pods
                assert not selector.items() <= other["spec"]["template"]["metadata"]["labels"].items()
    (service,) = [d for d in docs if d["kind"] == "Service"]
    for daemonset in sets.values():
        assert service["spec"]["selector"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()


def test_each_daemonset_is_its_builds_pod(builds):
    mixed = daemonsets(builds["mixed"])
    assert without_placement(mixed["footprint-exporter"]) == without_placement(
        daemonsets(builds["base"])["footprint-exporter"])
    assert without_placement(mixed["footprint-exporter-gpu"]) == without_placement(
        daemonsets(builds["nvidia"])["footprint-exporter"])
    assert mixed["footprint-exporter-gpu"]["spec"]["template"]["spec"]["runtimeClassName"] == "nvidia"
    assert "runtimeClassName" not in mixed["footprint-exporter"]["spec"]["template"]["spec"]


def test_config_maps_are_the_base_config_and_exist(builds):
    docs = builds["mixed"]
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    (base_map,) = [d for d in builds["base"] if d["kind"] == "ConfigMap"]
    for daemonset in daemonsets(docs).values():
        (volume,) = [v for v in daemonset["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
        assert maps[volume["configMap"]["name"]]["data"] == base_map["data"]


def test_everything_else_is_the_base(builds):
    base = [d for d in builds["base"] if d["kind"] not in ("DaemonSet", "ConfigMap")]
    mixed = [d for d in builds["mixed"] if d["kind"] not in ("DaemonSet", "ConfigMap")]
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(mixed, key=key) == sorted(base, key=key)
