"""The CronJob -> ConfigMap recipe of deploy/kubernetes/intensity-fetch (docs/deployment.md, "Live grid intensity for
a whole cluster"): what kustomize builds from it, and both ends of the ConfigMap run for real: the CronJob's own
`footprint_exporter intensity fetch` command against the fake provider (Tests/EndToEnd/fake_grid_provider.py), its
kustomization turning the file into the ConfigMap, the ConfigMap laid out as the kubelet lays it out (a `..data` link
to a timestamped directory, swapped atomically on change), and the exporter with the DaemonSet's flags reading it.

Needs kubectl (kustomize built in) and the debug binary (`make build`); Tests/Deploy/install-deps.sh installs kubectl.
"""

import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "EndToEnd"))
from fake_grid_provider import FakeGridProvider  # noqa: E402
from harness import BINARY, Exporter, parse_metrics, run_binary, wait_metrics  # noqa: E402

KUBERNETES = REPO / "deploy" / "kubernetes"
COMPONENT = KUBERNETES / "intensity-fetch"
KUBERNETES_VERSION = "1.32.0"
NAMESPACE = "footprint"
CONFIGMAP = "footprint-grid-intensity"
TOKEN = "em-cluster-token-3b9d"
BASE_KINDS = ["Namespace", "ConfigMap", "Service", "DaemonSet", "ServiceMonitor", "PrometheusRule"]
ADDED_KINDS = ["ServiceAccount", "Role", "RoleBinding", "CronJob", "ConfigMap"]


def kubectl():
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl not found; install it with Tests/Deploy/install-deps.sh")
    return path


def kustomize(directory: Path) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def build_with_component(directory: Path, build: Path) -> list[dict]:
    """What a user's kustomization builds: one of the shipped builds plus the component (kustomize wants the paths
    relative)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(build, directory)],
        "components": [os.path.relpath(COMPONENT, directory)],
    }))
    return kustomize(directory)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> list[dict]:
    return build_with_component(tmp_path_factory.mktemp("base"), KUBERNETES)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> list[dict]:
    return build_with_component(tmp_path_factory.mktemp("mixed"), KUBERNETES / "overlays" / "mixed")


def by_kind(docs, kind):
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs, kind, name=None):
    (found,) = [doc for doc in by_kind(docs, kind) if name is None or doc["metadata"]["name"].startswith(name)]
    return found


def cronjob_pod(docs):
    return one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def option(args, name):
    """The value after `name` in an argument list."""
    return args[args.index(name) + 1]


def mounts_by_path(container):
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def volume_of(pod, container, path):
    name = mounts_by_path(container)[path]["name"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == name]
    return volume


def mount_covering(container, path):
    """The mount that holds `path` (the deepest one above it)."""
    candidates = [m for m in container["volumeMounts"] if Path(path).is_relative_to(m["mountPath"])]
    return max(candidates, key=lambda m: len(m["mountPath"]))


def apply_kustomization(docs) -> dict:
    """The kustomization that the job's kubectl applies, as the generated ConfigMap carries it."""
    pod = cronjob_pod(docs)
    (apply,) = pod["containers"]
    mount = mounts_by_path(apply)["/work/kustomization.yaml"]
    volume = volume_of(pod, apply, "/work/kustomization.yaml")
    config_map = one(docs, "ConfigMap", volume["configMap"]["name"])
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]  # the hashed name, followed by kustomize
    return yaml.safe_load(config_map["data"][mount["subPath"]])


# ------------------------------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("build", ["cluster", "mixed"])
def test_manifests_validate(build, request):
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    docs = request.getfixturevalue(build)
    kinds = sorted(doc["kind"] for doc in docs)
    if build == "cluster":
        assert kinds == sorted(BASE_KINDS + ADDED_KINDS)
    for doc in docs:
        if doc["kind"] in ("ServiceMonitor", "PrometheusRule"):
            continue  # custom resources: test_deploy.py checks them against their schemas
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")


def test_cronjob_fetches_every_15_minutes_then_applies_the_configmap(cluster):
    cronjob = one(cluster, "CronJob")
    assert cronjob["spec"]["schedule"] == "*/15 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob_pod(cluster)
    assert pod["restartPolicy"] == "Never"
    (fetch,) = pod["initContainers"]
    (apply,) = pod["containers"]
    # The exporter's image runs the fetch: its entrypoint is footprint_exporter (deploy/docker/Dockerfile).
    assert fetch["image"] == "footprint-exporter:latest"
    args = fetch["args"]
    assert args[:2] == ["intensity", "fetch"]
    assert option(args, "--provider") == "electricitymaps" and option(args, "--zone") == "FR"
    assert "--url" not in args  # the provider's own, over https
    # The token comes from the Secret, mounted read-only in the fetch container only.
    token_path = option(args, "--token-file")
    token_mount = mount_covering(fetch, token_path)
    assert token_mount.get("readOnly") is True
    token_volume = volume_of(pod, fetch, token_mount["mountPath"])
    assert token_volume["secret"]["secretName"] == "footprint-grid-token"
    assert [(i["key"], i["path"]) for i in token_volume["secret"]["items"]] == [
        ("token", os.path.relpath(token_path, token_mount["mountPath"]))]
    assert not [m for m in apply["volumeMounts"] if m["name"] == token_mount["name"]]
    # The file goes into the pod's scratch volume, where kubectl applies the kustomization beside it.
    output = option(args, "--output")
    work = mount_covering(fetch, output)
    assert "emptyDir" in volume_of(pod, fetch, work["mountPath"])
    assert apply["args"] == ["apply", "-k", work["mountPath"]]
    assert apply["image"].startswith("registry.k8s.io/kubectl:v1.")
    assert mounts_by_path(apply)[work["mountPath"]]["name"] == work["name"]
    generated = apply_kustomization(cluster)
    (generator,) = generated["configMapGenerator"]
    assert generator["name"] == CONFIGMAP
    assert generator["files"] == [os.path.relpath(output, work["mountPath"])]
    assert generated["generatorOptions"]["disableNameSuffixHash"] is True
    assert "namespace" not in generated  # the pod's own namespace


def test_job_pod_is_locked_down(cluster):
    pod = cronjob_pod(cluster)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["initContainers"] + pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
        assert "add" not in security["capabilities"]
        assert set(container["resources"]) == {"requests", "limits"}
    # The API credentials reach kubectl only, not the container that talks to the internet.
    assert pod["automountServiceAccountToken"] is False
    (fetch,) = pod["initContainers"]
    (apply,) = pod["containers"]
    api = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert api not in mounts_by_path(fetch)
    sources = volume_of(pod, apply, api)["projected"]["sources"]
    assert [s["serviceAccountToken"]["path"] for s in sources if "serviceAccountToken" in s] == ["token"]
    assert one(cluster, "ServiceAccount")["automountServiceAccountToken"] is False


def test_rbac_reaches_only_that_configmap(cluster):
    account = one(cluster, "ServiceAccount")["metadata"]["name"]
    assert cronjob_pod(cluster)["serviceAccountName"] == account
    binding = one(cluster, "RoleBinding")
    role = one(cluster, "Role")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    verbs = set()
    for rule in role["rules"]:
        assert rule["apiGroups"] == [""] and rule["resources"] == ["configmaps"], rule
        verbs |= set(rule["verbs"])
        if rule["verbs"] == ["create"]:
            # A create is authorized before the object has a name: resourceNames cannot apply to it.
            assert "resourceNames" not in rule
        else:
            assert rule["resourceNames"] == [CONFIGMAP], rule
            assert set(rule["verbs"]) <= {"get", "update", "patch"}, rule
    assert verbs == {"get", "create", "update", "patch"}


@pytest.mark.parametrize("build", ["cluster", "mixed"])
def test_every_daemonset_mounts_the_configmap_and_reads_it(build, request):
    docs = request.getfixturevalue(build)
    daemonsets = by_kind(docs, "DaemonSet")
    assert len(daemonsets) == (2 if build == "mixed" else 1)
    base_args = one(kustomize(KUBERNETES), "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    for daemonset in daemonsets:
        pod = daemonset["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        (file_flag,) = [a for a in container["args"] if a.startswith("--grid.intensity.file=")]
        path = Path(file_flag.split("=", 1)[1])
        assert path.name == "intensity.json"
        mount = mounts_by_path(container)[str(path.parent)]
        assert mount.get("readOnly") is True and "subPath" not in mount  # a subPath mount would never be updated
        volume = volume_of(pod, container, str(path.parent))
        assert volume["configMap"] == {"name": CONFIGMAP, "optional": True}
        # The preset of the same zone stands in until the first value, and when a value has expired.
        assert "--grid.region=FR" in container["args"]
        # Nothing else of the container changes.
        assert container["args"][:len(base_args)] == base_args
        assert len(container["args"]) == len(base_args) + 2


# ------------------------------------------------------------------------------------- fetch -> ConfigMap -> exporter


def kubelet_write(directory: Path, files: dict[str, bytes]):
    """Writes a ConfigMap volume's files as the kubelet's atomic writer does: the content in a new timestamped
    directory, a `..data_tmp` link to it renamed over `..data`, then the old directory removed; each key is a link
    `key -> ..data/key`."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
    payload = directory / stamp
    payload.mkdir()
    for name, content in files.items():
        (payload / name).write_bytes(content)
        os.chmod(payload / name, 0o644)
    data = directory / "..data"
    old = os.readlink(data) if data.is_symlink() else None
    os.symlink(stamp, directory / "..data_tmp")
    os.rename(directory / "..data_tmp", data)
    for name in files:
        if not (directory / name).is_symlink():
            os.symlink(f"..data/{name}", directory / name)
    if old is not None:
        shutil.rmtree(directory / old)


def configmap_data(docs, fetched: Path, workdir: Path) -> dict[str, str]:
    """The ConfigMap the job's kubectl applies for the file `fetched`: its kustomization built beside a copy."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "kustomization.yaml").write_text(yaml.safe_dump(apply_kustomization(docs)))
    generator = apply_kustomization(docs)["configMapGenerator"][0]
    shutil.copyfile(fetched, workdir / generator["files"][0])
    (config_map,) = kustomize(workdir)
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == CONFIGMAP
    return config_map["data"]


def info(samples):
    """(source, zone) of the footprint_grid_intensity_info series."""
    (labels,) = [dict(k[1]) for k in samples if k[0] == "footprint_grid_intensity_info"]
    return labels["source"], labels["zone"]


def failed_reads(samples):
    return {k: v for k, v in samples.items() if k[0] == "footprint_grid_provider_errors_total"}


def intensity(samples):
    return samples[("footprint_grid_intensity_grams_per_kwh", frozenset())]


def clear_of_the_hour():
    """Waits out the last 30 s of an hour: the fake's hourly value (valid until the hour's end) must not expire
    between the fetch and the check, which would put the region preset in force."""
    while time.time() % 3600 > 3570:
        time.sleep(0.5)


def test_the_fetched_file_reaches_the_exporter_through_a_kubelet_configmap(cluster, tmp_path):
    if not os.access(BINARY, os.X_OK):
        pytest.skip(f"{BINARY} is missing: run `make build`")
    fetch_args = cronjob_pod(cluster)["initContainers"][0]["args"]
    (daemonset,) = by_kind(cluster, "DaemonSet")
    daemonset_args = daemonset["spec"]["template"]["spec"]["containers"][0]["args"]
    mount = tmp_path / "grid"  # the DaemonSet's ConfigMap mount: empty until the job's first run (optional)
    mount.mkdir()
    grid_flags = [f"--grid.intensity.file={mount / 'intensity.json'}" if a.startswith("--grid.intensity.file=")
                  else a for a in daemonset_args if a.startswith("--grid.")]
    assert len(grid_flags) == 2
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    fetched = tmp_path / "work" / "intensity.json"
    fetched.parent.mkdir()
    args = list(fetch_args)
    args[args.index("--token-file") + 1] = str(token)
    args[args.index("--output") + 1] = str(fetched)

    with FakeGridProvider(intensity=250, token=TOKEN) as fake:
        exporter = Exporter("intel-2socket", args=grid_flags)
        try:
            # Before the job's first run: the preset.
            samples = wait_metrics(exporter, lambda s: info(s) == ("region", "FR"), "the region preset first")
            preset = intensity(samples)

            clear_of_the_hour()
            code, _, stderr = run_binary(*args, "--url", fake.url, timeout=20)
            assert code == 0, stderr
            assert [r.query for r in fake.requests] == [{"zone": "FR"}]
            data = configmap_data(cluster, fetched, tmp_path / "apply-1")
            assert data == {"intensity.json": fetched.read_text()}  # byte for byte what the fetch wrote
            kubelet_write(mount, {name: value.encode() for name, value in data.items()})
            assert os.readlink(mount / "intensity.json") == "..data/intensity.json"
            samples = wait_metrics(exporter, lambda s: info(s) == ("file", "FR") and intensity(s) == 250,
                                   "the first fetched value")
            assert samples[("footprint_grid_intensity_stale", frozenset())] == 0
            assert preset != 250
            failures = failed_reads(samples)  # the empty mount before the first run counts as unreadable

            # The next run: a new value, and the kubelet swaps ..data to a new directory.
            fake.set_intensity(180.5)
            clear_of_the_hour()
            code, _, stderr = run_binary(*args, "--url", fake.url, timeout=20)
            assert code == 0, stderr
            first_payload = os.readlink(mount / "..data")
            kubelet_write(mount, {name: value.encode() for name, value in
                                  configmap_data(cluster, fetched, tmp_path / "apply-2").items()})
            assert os.readlink(mount / "..data") != first_payload and not (mount / first_payload).exists()
            samples = wait_metrics(exporter, lambda s: info(s) == ("file", "FR") and intensity(s) == 180.5,
                                   "the swapped value")
            assert failed_reads(samples) == failures  # no read caught the swap half-way
        finally:
            exporter.cleanup()
