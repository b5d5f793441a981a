#!/usr/bin/env bash
# deploy/wiretest/run.sh — the wire-contract suite: `lifecycle run` against a
# real Kafka broker, driven and read by Python's confluent-kafka (librdkafka),
# a client this project did not write. See README.md here.
#
#   deploy/kafka/local.sh start
#   LIFECYCLE_TEST_BROKERS=127.0.0.1:9092 deploy/wiretest/run.sh [pytest args…]
#
# The venv lives outside the repo, in ${XDG_CACHE_HOME:-$HOME/.cache}/lifecycle/
# (override with LIFECYCLE_WIRETEST_VENV), and is reinstalled only when
# requirements.txt or the Python interpreter change. Exits with pytest's
# code; "no tests collected" (5) counts as a failure too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

die() { echo "wiretest: $*" >&2; exit 2; }

[[ -n "${LIFECYCLE_TEST_BROKERS:-}" ]] ||
  die "LIFECYCLE_TEST_BROKERS is not set: start a broker (deploy/kafka/local.sh start) and export LIFECYCLE_TEST_BROKERS=127.0.0.1:9092, or eval \"\$(deploy/kafka/local.sh env)\""
command -v go >/dev/null || die "go is not on PATH (the suite builds ./cmd/lifecycle)"
python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found (Python 3.10+ with the venv module is needed)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$python is older than 3.10"

venv="${LIFECYCLE_WIRETEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lifecycle/wiretest-venv}"
stamp="$venv/.requirements.sha256"
want="$( { sha256sum "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "wiretest: creating venv $venv"
  t0=$SECONDS
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
  echo "wiretest: venv ready in $((SECONDS - t0))s"
fi

cd "$repo"
# No __pycache__ or .pytest_cache in the repo.
export PYTHONDONTWRITEBYTECODE=1
rc=0
"$venv/bin/python" -m pytest -q -p no:cacheprovider deploy/wiretest "$@" || rc=$?
if (( rc == 5 )); then
  echo "wiretest: pytest collected no tests; that is a failure" >&2
  rc=1
fi
exit "$rc"
