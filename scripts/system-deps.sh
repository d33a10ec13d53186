#!/usr/bin/env bash
# Install the Debian packages the test suite drives (real servers, not mocks).
# Under CI=true as root they are installed with apt-get when missing; elsewhere this only
# says what is missing, and the tests that need it skip with the same hint.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [redis-server]=redis-server
  [prometheus]=prometheus
  [promtool]=prometheus
  [chromium]=chromium
  # nginx -t on the generated nginx.conf, and a real nginx in front of gunicorn.
  [nginx]=nginx
  # The example's integration tests start their own server from /usr/lib/postgresql/*/bin;
  # pg_ctlcluster (postgresql-common, pulled in by postgresql) is on PATH, those are not.
  [pg_ctlcluster]=postgresql
)

missing=()
for command in "${!NEEDED[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${NEEDED[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# One package may bring several commands.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ]; then
  echo "system-deps: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Packaged services may start themselves; the tests start their own on loopback ports.
  for package in "${missing[@]}"; do
    service "$package" stop >/dev/null 2>&1 || true
  done
  # postgresql's cluster service is named after the server package it pulled in.
  for service in postgresql nginx; do
    service "$service" stop >/dev/null 2>&1 || true
  done
else
  echo "system-deps: not installed: ${missing[*]} (sudo apt-get install ${missing[*]});" \
       "tests that need them will skip. With CI=true as root, make test installs them."
fi
