#!/usr/bin/env bash
# Write sql/supabase_auth_ext--<version>.sql: the install script pgrx generates for this
# version, with source line numbers dropped. Run it whenever the SQL surface changes;
# tests/test_upgrade.py fails while the file and pgrx's output differ. See sql/README.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
install_ext 15
out="$REPO_ROOT/sql/supabase_auth_ext--$(ext_version).sql"
sed -E 's#^(-- src/[^:]+):[0-9]+$#\1#' \
  "$("$(pg_config_for 15)" --sharedir)/extension/supabase_auth_ext--$(ext_version).sql" > "$out"
log "wrote $out"
