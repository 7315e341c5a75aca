"""The hand-written SQL surface (sql/surface/*.sql) against the library: every C symbol it
names is one of ours (sae_*), never pgrx's generated `<fn>_wrapper` names, and the built
library exports each; and the errors that SQL raises come from the library's one error
type (src/error.rs), with the contract's SQLSTATEs and messages (section 5)."""
import pathlib
import re
import subprocess

import pytest
from conftest import connect, fails, one

ROOT = pathlib.Path(__file__).resolve().parent.parent
SURFACE = ROOT / "sql" / "surface"


def named_symbols():
    text = "\n".join(p.read_text() for p in sorted(SURFACE.glob("*.sql")))
    # CREATE FUNCTION ... AS 'MODULE_PATHNAME', '<symbol>', and the helpers' symbol column
    direct = re.findall(r"'MODULE_PATHNAME',\s*'([A-Za-z0-9_]+)'", text)
    helpers = re.findall(r"'(sae_auth_[a-z_]+)'", text)
    return set(direct) | set(helpers)


def test_hand_written_sql_names_only_the_librarys_own_symbols(dbname):
    named = named_symbols()
    assert len(named) >= 25, named
    assert not [s for s in named if s.endswith("_wrapper")], named
    assert all(s.startswith("sae_") for s in named), sorted(s for s in named if not s.startswith("sae_"))
    with connect(dbname) as c:
        libdir = one(c, "select setting from pg_config where name = 'PKGLIBDIR'")
    out = subprocess.run(["nm", "-D", "--defined-only", f"{libdir}/supabase_auth_ext.so"],
                         capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert named <= exported, sorted(named - exported)
    # each with its V1 info function, or PostgreSQL refuses to call it
    assert {f"pg_finfo_{s}" for s in named} <= exported


# (what, reason) as flows.sql passes them, and what the contract says the client sees.
FLOW_ERRORS = [
    ("auth code", "malformed", "28000", "invalid auth code: malformed"),
    ("auth code", "unknown", "28000", "invalid auth code: unknown"),
    ("auth code", "expired", "28000", "invalid auth code: expired"),
    ("auth code", "bad_verifier", "28000", "invalid auth code: bad_verifier"),
    ("refresh token", "malformed", "28000", "invalid refresh token: malformed"),
    ("refresh token", "unknown", "28000", "invalid refresh token: unknown"),
    ("refresh token", "session_revoked", "28000", "invalid refresh token: session_revoked"),
    ("refresh token", "session_expired", "28000", "invalid refresh token: session_expired"),
    ("refresh token", "reused", "28000", "invalid refresh token: reused"),
    ("JWT", "missing_claim", "28000", "invalid JWT: missing_claim"),
    ("option", "ttl must be positive", "22023", "invalid option: ttl must be positive"),
]


@pytest.mark.parametrize("what,reason,sqlstate,message", FLOW_ERRORS)
def test_flow_refusals_are_made_by_the_library(dbname, what, reason, sqlstate, message):
    with connect(dbname) as c:
        err = fails(c, "select sae_internal.flow_raise(%s, %s, 'why')", (what, reason), sqlstate)
        assert err.diag.message_primary == message
        assert err.diag.message_detail == "why"
    with connect(dbname) as c:
        err = fails(c, "select sae_internal.flow_raise(%s, %s)", (what, reason), sqlstate)
        assert err.diag.message_primary == message


def test_an_unknown_flow_error_is_an_internal_error_not_a_refusal(dbname):
    # a typo in flows.sql must not read as a client's mistake
    with connect(dbname) as c:
        fails(c, "select sae_internal.flow_raise('auth code', 'nope')", sqlstate="XX000")
    with connect(dbname) as c:
        fails(c, "select sae_internal.flow_raise('JWT', 'nope')", sqlstate="XX000")
    with connect(dbname) as c:
        fails(c, "select sae_internal.raise('nope')", sqlstate="XX000")


def test_a_flow_refusal_reaches_the_client_from_the_library(dbname):
    with connect(dbname) as c:
        err = fails(c, "select auth.pkce_exchange(repeat('A', 43), repeat('v', 43))", sqlstate="28000")
        assert err.diag.message_primary == "invalid auth code: unknown"
        err = fails(c, "select auth.refresh(repeat('A', 43))", sqlstate="28000")
        assert err.diag.message_primary == "invalid refresh token: unknown"


@pytest.mark.parametrize("name,arg,sqlstate,prefix", [
    ("pgjwt_installed", None, "42723", "schema pgjwt already holds pgjwt's functions"),
    ("pgjwt_owner", None, "42501", "schema pgjwt exists and belongs to a role"),
    ("helper_changed", "auth.uid()", "55000", "auth.uid() was dropped or changed"),
])
def test_install_and_admin_errors_are_made_by_the_library(dbname, name, arg, sqlstate, prefix):
    with connect(dbname) as c:
        fails(c, "select sae_internal.raise(%s, %s)", (name, arg), sqlstate, prefix)
