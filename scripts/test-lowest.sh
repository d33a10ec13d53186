#!/usr/bin/env bash
# The lowest versions that pyproject.toml allows, installed together and tested
# (`make test-lowest`).
#
# Usage: scripts/test-lowest.sh UV_VERSION DIR [pytest arguments...]
#
# Our direct runtime dependencies (the core and the extras) are resolved with
# `uv pip compile --resolution lowest-direct`: each at its declared floor, what they pull in
# at its newest, as an app that pins our floors gets them. The test tools stay at their
# requirements.lock versions. Two environments under DIR, rebuilt on each run:
#
# - no-smorest: every extra but smorest. It must get Flask 3.0.0 and none of flask-smorest,
#   marshmallow, apispec or webargs, and an app with each part on must work in it.
# - full: every extra (flask-smorest 0.44 needs Flask 3.0.2) and the example app's packages
#   at their floors, the test tools at their locked versions; pytest runs there with the
#   remaining arguments.
set -euo pipefail

uv_version=$1
dir=$2
shift 2
python=${PYTHON:-python3}
extras=(--extra redis --extra sqlalchemy --extra gunicorn --extra smorest)
# What the resolution without smorest must give: the floors of pyproject.toml.
floors=(
  flask==3.0.0
  dynaconf==3.3.0
  loguru==0.7.0
  prometheus-flask-exporter==0.23.0
  prometheus-client==0.18.0
  flask-htmx==0.4.0
  orjson==3.9.0
  redis==5.0.0
  sqlalchemy==2.0.0
  gunicorn==22.0.0
)

rm -rf "$dir"
mkdir -p "$dir"
"$python" -m venv "$dir/uv"
"$dir/uv/bin/python" -m pip install --quiet "uv==$uv_version"
uv=("$dir/uv/bin/uv" --quiet)
compile=("${uv[@]}" pip compile pyproject.toml --resolution lowest-direct --no-header)

# --- no smorest: every other extra ----------------------------------------------------
"$python" -m venv --without-pip "$dir/no-smorest"
bare=(--python "$dir/no-smorest/bin/python")
"${compile[@]}" "${bare[@]}" "${extras[@]:0:6}" -o "$dir/no-smorest.txt"
for pin in "${floors[@]}"; do
  grep -qx "$pin" "$dir/no-smorest.txt" || {
    echo "test-lowest: the lowest resolution without smorest has no $pin" >&2
    grep -v '^ ' "$dir/no-smorest.txt" >&2
    exit 1
  }
done
for name in flask-smorest marshmallow apispec webargs; do
  if grep -q "^$name==" "$dir/no-smorest.txt"; then
    echo "test-lowest: $name is installed without the smorest extra" >&2
    exit 1
  fi
done
"${uv[@]}" pip sync "${bare[@]}" "$dir/no-smorest.txt"
"${uv[@]}" pip install "${bare[@]}" --no-deps .
# Run outside the checkout, so that the installed package is the one imported.
if ! (cd "$dir" && no-smorest/bin/python -I - >no-smorest.log 2>&1) <<'EOF'
"""An app without flask-smorest at the lowest versions: every part answers."""

import importlib.util
from importlib.metadata import version

import sqlalchemy
from flask import Flask

from flask_prodready import ProdReady, register_check, watch_sql
from flask_prodready.health import sqlalchemy_check

for name in ("flask_smorest", "marshmallow", "apispec", "webargs"):
    assert importlib.util.find_spec(name) is None, f"{name} is installed"

app = Flask("lowest")
app.config["PROPAGATE_EXCEPTIONS"] = False
ProdReady(app)
engine = sqlalchemy.create_engine("sqlite://")
watch_sql(app, engine)
register_check(app, "database", sqlalchemy_check(engine))


@app.get("/hello")
def hello() -> dict[str, object]:
    with engine.connect() as connection:
        one = connection.execute(sqlalchemy.text("SELECT 1")).scalar()
    return {"hello": "world", "one": one}


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("boom")


client = app.test_client()
response = client.get("/hello", headers={"X-Request-ID": "lowest-1"})
assert response.status_code == 200, response.data
assert response.json == {"hello": "world", "one": 1}, response.json
assert response.headers["X-Request-ID"] == "lowest-1", dict(response.headers)
missing = client.get("/nowhere")
assert missing.status_code == 404, missing.status_code
assert missing.mimetype == "application/problem+json", missing.mimetype
assert missing.json["status"] == 404, missing.json
failed = client.get("/boom")
assert failed.status_code == 500, failed.status_code
assert failed.json["status"] == 500, failed.json
assert client.get("/livez").status_code == 200
ready = client.get("/readyz")
assert ready.status_code == 200, ready.data
metrics = client.get("/metrics").get_data(as_text=True)
assert "flask_http_request_total{" in metrics and 'route="/hello"' in metrics, metrics
assert "prodready_sql_queries_total{" in metrics, metrics
names = ("flask", "werkzeug", "dynaconf", "prometheus-client", "sqlalchemy")
print("test-lowest: no smorest, OK with", ", ".join(f"{n} {version(n)}" for n in names))
EOF
then
  cat "$dir/no-smorest.log" >&2
  exit 1
fi
tail -n 1 "$dir/no-smorest.log"

# --- every extra, the example app's packages, the test suite --------------------------
# With pip, as .venv has it (some tests build the wheel with it).
"$python" -m venv "$dir/full"
full=(--python "$dir/full/bin/python")
# The example group too: the tests import the example app, and flask-sqlalchemy's floor
# asks for more than the sqlalchemy extra's.
"${compile[@]}" "${full[@]}" "${extras[@]}" --group example -o "$dir/runtime.txt"
# The test tools at their locked versions: each pin of the lock whose package the runtime
# resolution does not pin.
awk 'NR == FNR { if (/^[a-z0-9]/) { split($0, p, "=="); seen[p[1]] = 1 }; next }
     /^[a-z0-9]/ { split($0, p, "=="); if (!(p[1] in seen)) { sub(/ *\\$/, ""); print } }' \
  "$dir/runtime.txt" requirements.lock >"$dir/tools.txt"
"${uv[@]}" pip compile pyproject.toml "${full[@]}" "${extras[@]}" --no-header \
  --group example --group test --group build \
  --constraint "$dir/runtime.txt" --constraint "$dir/tools.txt" -o "$dir/full.txt"
"${uv[@]}" pip install "${full[@]}" -r "$dir/full.txt"
"${uv[@]}" pip install "${full[@]}" --no-deps --no-build-isolation --editable .
echo "test-lowest: pytest with" $(grep -v '^ ' "$dir/runtime.txt")
"$dir/full/bin/python" -m pytest "$@"
