#!/usr/bin/env bash
# Quick start: install everything, build and install the extension into PostgreSQL 15,
# start a throwaway cluster, run examples/demo.sql (a signed token logs in, RLS filters
# rows, a PKCE round trip), print what happened, and stop the cluster.
set -euo pipefail
source "$(dirname "$0")/env.sh"
ver=${1:-15}
bash "$REPO_ROOT/scripts/setup.sh"
trap stop_cluster EXIT
install_ext "$ver"
start_cluster "$ver"
log "running examples/demo.sql on a throwaway PostgreSQL $ver cluster"
"$SAE_PSQL" -X -d postgres -f "$REPO_ROOT/examples/demo.sql"
log "demo finished; the cluster is stopped and removed"
