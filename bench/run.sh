#!/usr/bin/env bash
# Build release, start a throwaway PostgreSQL 15 cluster, run bench/bench.py side by side,
# and write docs/BENCHMARKS.md with the figures and this command.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
ver=${1:-15}
bash "$REPO_ROOT/scripts/setup.sh"
cd "$REPO_ROOT"
trap stop_cluster EXIT
install_ext "$ver"
log "native floor binary"
cargo build --release -q -p auth_core --example verify_floor --example asym_floor
start_cluster "$ver"
"$SAE_PSQL" -X -q -c "alter system set shared_buffers = '1GB'" -c "alter system set work_mem = '64MB'"
sudo -u postgres "$SAE_BINDIR/pg_ctl" -D "$SAE_CLUSTER/data" -w restart \
  -o "-c listen_addresses='' -k $SAE_CLUSTER -p $PGPORT -c fsync=off" >/dev/null
"$SAE_PSQL" -X -q -c "create database bench" -d bench 2>/dev/null || "$SAE_PSQL" -X -q -c "create database bench"
"$SAE_PSQL" -X -q -d bench -c "create extension if not exists supabase_auth_ext"
log "running benchmarks (a few minutes)"
report=$(BENCH_DB=bench BENCH_TOKENS="$SAE_CLUSTER/tokens.txt" \
  BENCH_FLOOR_BIN="$REPO_ROOT/target/release/examples/verify_floor" BENCH_ASYM_FLOOR_BIN="$REPO_ROOT/target/release/examples/asym_floor" BENCH_PGBENCH="$SAE_BINDIR/pgbench" "$VENV/bin/python" bench/bench.py)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($cpu)."
  echo "Each figure below was measured in that one run; ratios compare rows of the same table."
  echo "pgjwt is not in the table: it cannot be installed from the package registries this machine"
  echo "reaches, and its SQL is not ours to ship."
  echo
  echo "$report"
} > docs/BENCHMARKS.md
cat docs/BENCHMARKS.md
