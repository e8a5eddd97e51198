"""deploy/: the Dockerfile and the Kubernetes and KServe manifests agree with each other and with
the app (probe paths are real routes that answer 200, ports are the ones the server listens
on, command-line flags exist). The image is built only where a working container tool is."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _dockerfile() -> dict:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), by keyword."""
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out: dict[str, list[str]] = {}
    for line in joined.splitlines():
        if line.strip():
            key, _, rest = line.strip().partition(" ")
            out.setdefault(key.upper(), []).append(rest.strip())
    return out


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d is not None]


def _serve_flags() -> set[str]:
    import typer.main

    from maskwatch.cli import app

    command = typer.main.get_command(app).commands["serve"]
    return {opt for param in command.params for opt in param.opts}


def _check_command(args: list[str]) -> None:
    """``maskwatch serve`` with flags the CLI has."""
    assert args[:2] == ["maskwatch", "serve"]
    flags = {a for a in args[2:] if a.startswith("--")}
    assert flags <= _serve_flags(), flags - _serve_flags()
    assert _flag(args, "--host") == "0.0.0.0"


class _Stub:
    model_version = "stub"

    def detect(self, image):  # pragma: no cover - probes never infer
        raise AssertionError("a probe ran inference")


@pytest.fixture(scope="module")
def probe():
    """GET a path on the real app (no key: probes send none, even when a key is set)."""
    pytest.importorskip("fastapi", reason="the app needs the [serve] extra")
    from fastapi.testclient import TestClient

    from maskwatch.serve.app import create_app
    from maskwatch.settings import ServeSettings

    client = TestClient(create_app(_Stub(), ServeSettings(api_key="set-in-the-secret")))
    return lambda path: client.get(path).status_code


def test_dockerfile():
    df = _dockerfile()
    assert len(df["FROM"]) == 1 and re.fullmatch(r"python:3\.\d+-slim", df["FROM"][0])
    run = " ".join(df["RUN"])
    assert 'pip install ".[serve]"' in run and "pip install --no-deps -r requirements/no-deps.txt" in run
    assert "USER" in df
    exposed = {int(p) for line in df["EXPOSE"] for p in line.split()}
    cmd = json.loads(df["CMD"][0])  # exec form: signals reach the server
    _check_command(cmd)
    assert exposed == {int(_flag(cmd, "--port")), int(_flag(cmd, "--grpc-port"))}
    # what the image copies is in the repository and passes the .dockerignore
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for line in df["COPY"]:
        *sources, _ = shlex.split(line)
        for src in sources:
            assert (ROOT / src).exists(), src
            assert f"!{src}" in ignore or f"!{src}/" in ignore, f"{src} is not let through the .dockerignore"


def test_kubernetes_manifest(probe):
    docs = _docs("kubernetes.yaml")
    by_kind = {d["kind"]: d for d in docs}
    assert sorted(by_kind) == ["Deployment", "Service"]
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    assert deployment["apiVersion"] == "apps/v1" and service["apiVersion"] == "v1"
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    args = container["args"]
    _check_command(args)
    df = _dockerfile()
    exposed = {int(p) for line in df["EXPOSE"] for p in line.split()}
    assert ports == {"http": int(_flag(args, "--port")), "grpc": int(_flag(args, "--grpc-port"))}
    assert set(ports.values()) == exposed

    def port_of(ref):
        return ports[ref] if isinstance(ref, str) else ref

    # liveness /healthz and readiness /readyz on the HTTP port: real routes that answer without the key
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (live["path"], port_of(live["port"])) == ("/healthz", ports["http"])
    assert (ready["path"], port_of(ready["port"])) == ("/readyz", ports["http"])
    assert probe("/healthz") == 200 and probe("/readyz") == 200
    # the gRPC port's standard health service
    assert port_of(container["startupProbe"]["grpc"]["port"]) == ports["grpc"]

    # the API key comes from a Secret, as the variable the settings read
    env = {e["name"]: e for e in container["env"]}
    assert env["MASKWATCH_API_KEY"]["valueFrom"]["secretKeyRef"]["key"]
    from maskwatch.settings import ServeSettings

    for name in env:
        assert name.removeprefix("MASKWATCH_").lower() in ServeSettings.model_fields, name
    # the Service sends each of its ports to a named container port
    assert {p["name"]: port_of(p["targetPort"]) for p in service["spec"]["ports"]} == ports


def test_kserve_inference_service(probe):
    docs = _docs("kserve-inferenceservice.yaml")
    assert docs and all(d["kind"] == "InferenceService" for d in docs)
    assert all(d["apiVersion"] == "serving.kserve.io/v1beta1" for d in docs)
    for doc in docs:
        (container,) = doc["spec"]["predictor"]["containers"]
        assert container["name"] == "kserve-container"
        args = container["args"]
        _check_command(args)
        (port,) = container["ports"]  # Knative routes one port
        if port.get("name") == "h2c":  # the gRPC variant
            assert port["containerPort"] == int(_flag(args, "--grpc-port")) > 0
        else:
            assert port["containerPort"] == int(_flag(args, "--port"))
        for kind, path in (("readinessProbe", "/v2/health/ready"), ("livenessProbe", "/v2/health/live")):
            if kind in container:
                get = container[kind]["httpGet"]
                assert get["path"] == path and get["port"] == int(_flag(args, "--port"))
                assert probe(path) == 200
    # the protocol routes the InferenceService's clients call exist
    assert probe("/v2/models/maskwatch/ready") == 200
    assert probe("/v2/models/maskwatch") == 401  # metadata and inference need the key


def _container_tool() -> tuple[str | None, str]:
    """A container tool whose engine answers, or None and why not."""
    reasons = []
    for tool in ("docker", "podman"):
        path = shutil.which(tool)
        if path is None:
            reasons.append(f"no {tool}")
            continue
        try:
            res = subprocess.run([path, "info"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{tool} info failed ({exc.__class__.__name__})")
            continue
        if res.returncode == 0:
            return path, ""
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        reasons.append(f"{tool} has no working engine ({last[0]})")
    return None, "; ".join(reasons)


@pytest.mark.slow
def test_image_builds():
    tool, why = _container_tool()
    if tool is None:
        pytest.skip(f"no container tool to build deploy/Dockerfile with: {why}; the manifests are linted instead")
    tag = "maskwatch-test:deploy"
    build = subprocess.run(
        [tool, "build", "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    assert build.returncode == 0, build.stderr[-3000:]
    ran = subprocess.run([tool, "run", "--rm", tag, "maskwatch", "--help"], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "serve" in ran.stdout
