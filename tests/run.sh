#!/usr/bin/env bash
# The test command: installs what it needs, then runs the suite on CPU (~5 min on a slow 2-core host, plus the install).
#   DATA_DIR=../shared/data bash tests/run.sh        # offline, with the local data folder
#   bash tests/run.sh -k model                       # extra args go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash install.sh --test
if [ -n "${DATA_DIR:-}" ]; then  # absolute: tests change directory
  DATA_DIR="$(cd "$DATA_DIR" 2>/dev/null && pwd)" || { echo "error: DATA_DIR is not a directory (unset it to download)" >&2; exit 1; }
  export DATA_DIR
fi
export OMP_WAIT_POLICY=PASSIVE
# two workers (one per core; each test process runs on one thread), whole files per worker so that a module's
# fixtures are built once. TEST_WORKERS=0 runs in one process. The scripts the tests run start as children of a
# warm interpreter (tests/forkserver.py: 12.5 -> 5.2 min on a 42 GFLOP/s host); TEST_FORK=0 starts each afresh.
exec python3 -m pytest tests -q -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
