#!/usr/bin/env bash
# The whole test suite, on PostgreSQL 15, 16 and 18: lint, core unit tests, in-backend
# #[pg_test]s, and the SQL-level pytest suite against a throwaway cluster of each version.
# Installs whatever is missing first (scripts/setup.sh). Usage: scripts/test.sh [15 16 18]
set -euo pipefail
source "$(dirname "$0")/env.sh"
versions=("${@:-15}")
[ $# -gt 0 ] || versions=(15 16 18)

bash "$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
trap stop_cluster EXIT

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (core and extension, warnings are errors)"
cargo clippy -p auth_core --all-targets -- -D warnings
cargo clippy -p supabase_auth_ext --all-targets --no-default-features --features "pg15 pg_test" -- -D warnings

log "core unit tests (cargo test, no PostgreSQL)"
cargo test -p auth_core

for v in "${versions[@]}"; do
  log "in-backend tests on PostgreSQL $v (cargo pgrx test)"
  pgdata=$(mktemp -d /tmp/sae-pgrx-test-$v-XXXXXX)
  chown postgres: "$pgdata"
  cargo pgrx test "pg$v" --runas postgres --pgdata "$pgdata/data" --no-default-features
  rm -rf "$pgdata"

  install_ext "$v"
  start_cluster "$v"
  log "SQL-level tests on PostgreSQL $v (pytest against a throwaway cluster)"
  "$VENV/bin/pytest" -q -p no:cacheprovider "$REPO_ROOT/tests"
  stop_cluster
  if [ "$v" = 15 ]; then  # the one version with a Debian postgresql package here
    log "the Debian package on PostgreSQL $v (scripts/package.sh, installed with dpkg)"
    bash "$REPO_ROOT/scripts/test-package.sh" "$v"
  fi
done
log "all tests passed on PostgreSQL ${versions[*]}"
