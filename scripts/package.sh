#!/usr/bin/env bash
# Build a Debian package of the extension for PostgreSQL $1 (15, 16 or 18; default 15) into
# dist/: `cargo pgrx package` output laid out where Debian's (and PGDG's) postgresql-NN
# keeps extensions (/usr/lib/postgresql/NN/lib, /usr/share/postgresql/NN/extension), with
# every released SQL script of sql/ and the control file. It depends on postgresql-NN, so
# installing it needs no Rust and runs no cargo: `apt install ./dist/<file>.deb`.
# Usage: bash scripts/package.sh [15|16|18]; prints the path of the .deb it made.
set -euo pipefail
source "$(dirname "$0")/env.sh"
ver=${1:-15}
config=$(pg_config_for "$ver")
[ -x "$config" ] || bash "$REPO_ROOT/scripts/setup.sh" >&2
version=$(ext_version)
name=postgresql-$ver-supabase-auth-ext
work=$(mktemp -d /tmp/sae-package-XXXXXX)
trap 'rm -rf "$work"' EXIT

log "cargo pgrx package for PostgreSQL $ver" >&2
(cd "$REPO_ROOT" && cargo pgrx package --pg-config "$config" --no-default-features --features "pg$ver" \
  --out-dir "$work/pgrx" >/dev/null)

# pgrx lays the files out under this PostgreSQL's own directories (for the wheels, their
# install prefix); the package puts them where postgresql-NN has them.
root="$work/root"
lib="$root/usr/lib/postgresql/$ver/lib"
ext="$root/usr/share/postgresql/$ver/extension"
mkdir -p "$lib" "$ext" "$root/DEBIAN"
install -m 755 "$work/pgrx$("$config" --pkglibdir)/supabase_auth_ext.so" "$lib/"
install -m 644 "$work/pgrx$("$config" --sharedir)/extension/supabase_auth_ext.control" "$ext/"
install -m 644 "$work/pgrx$("$config" --sharedir)/extension/supabase_auth_ext--$version.sql" "$ext/"
for f in "$REPO_ROOT"/sql/supabase_auth_ext--*.sql; do
  [ "$(basename "$f")" = "supabase_auth_ext--$version.sql" ] || install -m 644 "$f" "$ext/"
done
install -d "$root/usr/share/doc/$name"
install -m 644 "$REPO_ROOT/README.md" "$root/usr/share/doc/$name/"

cat > "$root/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $(dpkg --print-architecture)
Depends: postgresql-$ver, libc6
Maintainer: supabase_auth_ext developers <noreply@localhost>
Section: database
Priority: optional
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Description: JWT, PKCE and Supabase-compatible request auth inside PostgreSQL $ver
 supabase_auth_ext verifies and signs JWTs, provides auth.uid() and friends for
 row level security, PostgREST's per-request role switch (auth.login), and
 database-side PKCE code exchange, sessions and refresh-token rotation.
EOF

mkdir -p "$REPO_ROOT/dist"
out="$REPO_ROOT/dist/${name}_${version}_$(dpkg --print-architecture).deb"
dpkg-deb --root-owner-group -Zgzip --build "$root" "$out" >/dev/null
log "wrote $out" >&2
echo "$out"
