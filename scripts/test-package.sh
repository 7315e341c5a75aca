#!/usr/bin/env bash
# The package install test: build the .deb for PostgreSQL $1 (default 15, the version with a
# Debian postgresql package here), remove what a source build installed, install the
# package with dpkg (no cargo on PATH), and in a fresh cluster create the extension, run
# examples/demo.sql, and upgrade from every earlier release. Then remove the package and
# put the source build back. Called by scripts/test.sh; needs root.
set -euo pipefail
source "$(dirname "$0")/env.sh"
ver=${1:-15}
config=$(pg_config_for "$ver")
deb=$(bash "$REPO_ROOT/scripts/package.sh" "$ver")
name=$(dpkg-deb --field "$deb" Package)
libdir=$("$config" --pkglibdir)
extdir=$("$config" --sharedir)/extension

restore() {
  stop_cluster
  dpkg -r "$name" >/dev/null 2>&1 || true
  install_ext "$ver" >/dev/null
}
trap restore EXIT

log "installing $(basename "$deb") with dpkg, no cargo on PATH"
rm -f "$libdir/supabase_auth_ext.so" "$extdir"/supabase_auth_ext*
clean_path=/usr/sbin:/usr/bin:/sbin:/bin
env PATH=$clean_path dpkg -i "$deb" >/dev/null
env PATH=$clean_path dpkg -L "$name" | grep -q "$libdir/supabase_auth_ext.so"
for f in "$REPO_ROOT"/sql/supabase_auth_ext--*.sql; do
  [ -f "$extdir/$(basename "$f")" ] || { echo "the package lacks $(basename "$f")" >&2; exit 1; }
done

start_cluster "$ver"
log "examples/demo.sql against the packaged extension"
env PATH=$clean_path "$SAE_PSQL" -X -q -d postgres -f "$REPO_ROOT/examples/demo.sql" > "$SAE_CLUSTER/demo.out"
grep -q "walk the dog" "$SAE_CLUSTER/demo.out"
log "every earlier release upgrades to $(ext_version)"
for f in "$REPO_ROOT"/sql/supabase_auth_ext--*.sql; do
  old=$(basename "$f" .sql | sed -n 's/^supabase_auth_ext--\([0-9.]*\)$/\1/p')
  [ -n "$old" ] && [ "$old" != "$(ext_version)" ] || continue
  env PATH=$clean_path "$SAE_PSQL" -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL
CREATE DATABASE up_${old//./_};
\c up_${old//./_}
CREATE EXTENSION supabase_auth_ext VERSION '$old';
ALTER EXTENSION supabase_auth_ext UPDATE;
DO \$\$ BEGIN
  IF (SELECT extversion FROM pg_extension WHERE extname = 'supabase_auth_ext') <> '$(ext_version)' THEN
    RAISE EXCEPTION 'not upgraded';
  END IF;
END \$\$;
SQL
done
log "the package installs and works without Rust: $(basename "$deb")"
