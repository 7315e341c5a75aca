"""Contract section 4: PKCE code exchange, sessions, refresh-token rotation with reuse
detection, under concurrency. The application's privileged step (auth.pkce_begin) runs as a
superuser; the public client's steps (exchange, refresh, resume) run as the authenticator."""
import hashlib
import secrets
import threading
import time
import uuid

import psycopg
import pytest
from conftest import (AUTHN, ISS, SECRET, configure_login, connect, fails, one, pkce_pair,
                      py_verify)

U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
ITEMS = f"""
create table items (id serial primary key, owner uuid, body text);
insert into items (owner, body) values ('{U1}', 'u1-a'), ('{U1}', 'u1-b'), ('{U2}', 'u2-a');
alter table items enable row level security;
create policy own on items for select to authenticated using (owner = auth.uid());
grant select on items to authenticated;
"""
SESSION_KEYS = {"access_token", "token_type", "expires_in", "expires_at", "refresh_token",
                "session_id", "user"}


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname, ITEMS):
        yield


def begin(admin, sub, challenge, method="S256", claims="{}", ttl="5 minutes"):
    return one(admin, "select auth.pkce_begin(%s, %s, %s, %s, %s)",
               (sub, challenge, method, claims, ttl))


def login(admin, app, sub=U1, **kw):
    """A fresh session for `sub`: begin (admin), exchange (app)."""
    verifier, challenge = pkce_pair()
    code = begin(admin, sub, challenge, **kw)
    return one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))


def refresh(conn, rt):
    return one(conn, "select auth.refresh(%s)", (rt,))


def rows_as(conn, access_token):
    with conn.transaction():
        conn.execute("select auth.login(%s)", (access_token,))
        who = conn.execute("select current_user::text, auth.uid()::text").fetchone()
        rows = sorted(r[0] for r in conn.execute("select body from items"))
    return who, rows


def token_rows(conn, session_id):
    return one(conn, "select count(*) from sae_internal.sae_flow_refresh_tokens where session_id = %s",
               (session_id,))


def test_flow_tokens_carry_the_issuer_api_keys_carry(admin):
    """The flows and auth.issue_api_key take the same issuer from auth.jwt_iss: its first
    non-empty entry, so that auth.login accepts the flows' tokens."""
    admin.execute("set auth.jwt_iss = %s" % psycopg.sql.quote(f" , {ISS} ,supabase"))
    s = login(admin, admin)
    assert py_verify(s["access_token"], SECRET.encode())["iss"] == ISS
    key = one(admin, "select auth.issue_api_key('anon')")
    assert py_verify(key, SECRET.encode())["iss"] == ISS
    assert rows_as(admin, s["access_token"]) == (("authenticated", U1), ["u1-a", "u1-b"])
    admin.execute("set auth.jwt_iss = ''")
    assert "iss" not in py_verify(login(admin, admin)["access_token"], SECRET.encode())


def test_full_public_client_login(admin, app):
    verifier, challenge = pkce_pair()
    code = begin(admin, U1, challenge, claims='{"email": "u1@example.com", "app": {"plan": 2}}')
    assert len(code) == 43 and code not in one(admin, "select string_agg(t::text, '') from sae_internal.sae_flow_codes t")
    s = one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))
    assert set(s) == SESSION_KEYS and s["token_type"] == "bearer" and s["user"] == {"id": U1}
    claims = py_verify(s["access_token"], SECRET.encode())
    now = time.time()
    assert claims["sub"] == U1 and claims["role"] == "authenticated"
    assert claims["session_id"] == s["session_id"] and claims["exp"] == s["expires_at"]
    assert claims["aud"] == "authenticated" and claims["iss"] == "supabase"
    assert abs(claims["iat"] - now) < 5 and claims["exp"] - claims["iat"] == 3600 == s["expires_in"]
    assert claims["email"] == "u1@example.com" and claims["app"] == {"plan": 2}
    assert rows_as(app, s["access_token"]) == (("authenticated", U1), ["u1-a", "u1-b"])

    s2 = refresh(app, s["refresh_token"])
    assert set(s2) == SESSION_KEYS and s2["session_id"] == s["session_id"]
    assert s2["refresh_token"] != s["refresh_token"]
    assert py_verify(s2["access_token"], SECRET.encode())["email"] == "u1@example.com"
    s3 = refresh(app, s2["refresh_token"])
    assert s3["refresh_token"] not in (s["refresh_token"], s2["refresh_token"])
    assert rows_as(app, s3["access_token"])[1] == ["u1-a", "u1-b"]

    # resume with a fresh access token: the pair as is
    r = one(app, "select auth.resume(%s, %s)", (s3["access_token"], s3["refresh_token"]))
    assert (r["access_token"], r["refresh_token"]) == (s3["access_token"], s3["refresh_token"])
    assert set(r) == SESSION_KEYS and r["expires_at"] == s3["expires_at"]
    # inside the margin (here: a margin longer than the token's life): refreshed
    admin.execute("set auth.resume_margin = '2h'")
    r2 = one(admin, "select auth.resume(%s, %s)", (s3["access_token"], s3["refresh_token"]))
    assert r2["refresh_token"] != s3["refresh_token"] and r2["session_id"] == s["session_id"]
    assert token_rows(admin, s["session_id"]) == 4


def test_sessions_and_codes_are_stored_only_as_hashes(admin, app):
    s = login(admin, app)
    dump = one(admin, "select string_agg(t::text, '') from sae_internal.sae_flow_sessions t")
    dump += one(admin, "select string_agg(t::text, '') from sae_internal.sae_flow_refresh_tokens t")
    assert s["refresh_token"] not in dump and s["access_token"] not in dump
    assert s["access_token"].split(".")[2] not in dump
    h = hashlib.sha256(s["refresh_token"].encode()).hexdigest()
    assert one(admin, "select count(*) from sae_internal.sae_flow_sessions where current_hash = %s",
               (bytes.fromhex(h),)) == 1


def test_wrong_verifier_burns_the_code(admin, app):
    verifier, challenge = pkce_pair()
    code = begin(admin, U1, challenge)
    e = fails(app, "select auth.pkce_exchange(%s, %s)", (code, pkce_pair()[0]), "28000",
              "invalid auth code: bad_verifier")
    assert code not in str(e) and verifier not in str(e)
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
          "invalid auth code: unknown")
    # burnt even inside a transaction the client rolls back
    code = begin(admin, U1, challenge)
    with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
        with app.transaction():
            app.execute("select auth.pkce_exchange(%s, 'not-a-verifier')", (code,))
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
          "invalid auth code: unknown")
    # a NULL verifier is a wrong one
    code = begin(admin, U1, challenge)
    fails(app, "select auth.pkce_exchange(%s, NULL)", (code,), "28000", "invalid auth code: bad_verifier")
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000", "invalid auth code: unknown")


def test_code_is_single_use(admin, app):
    verifier, challenge = pkce_pair()
    code = begin(admin, U1, challenge)
    one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
          "invalid auth code: unknown")


def test_expired_code(admin, app):
    verifier, challenge = pkce_pair()
    code = begin(admin, U1, challenge, ttl="1 second")
    time.sleep(1.2)
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000",
          "invalid auth code: expired")


@pytest.mark.parametrize("code", [None, "", "short", "x" * 42 + "!", "a" * 44])
def test_malformed_or_unknown_codes(app, code):
    reason = "unknown" if code and len(code) == 43 and code.isalnum() else "malformed"
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, pkce_pair()[0]), "28000",
          f"invalid auth code: {reason}")
    fails(app, "select auth.pkce_exchange(%s, %s)", ("A" * 43, pkce_pair()[0]), "28000",
          "invalid auth code: unknown")


def test_plain_and_s256(admin, app):
    verifier, challenge = pkce_pair()
    # plain: the challenge is the verifier itself
    code = begin(admin, U2, verifier, method="plain")
    s = one(app, "select auth.pkce_exchange(%s, %s)", (code, verifier))
    assert s["user"] == {"id": U2}
    # an S256 code does not accept the challenge as verifier, a plain code not the verifier
    code = begin(admin, U2, challenge, method="S256")
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, challenge), "28000", "invalid auth code: bad_verifier")
    code = begin(admin, U2, challenge, method="plain")
    fails(app, "select auth.pkce_exchange(%s, %s)", (code, verifier), "28000", "invalid auth code: bad_verifier")


@pytest.mark.parametrize("args,prefix", [
    (("u", "C" * 43, "S512"), "invalid option: unsupported PKCE method"),
    (("u", "C" * 43, None), "invalid option: unsupported PKCE method"),
    (("u", "C" * 42, "S256"), "invalid option: an S256 challenge"),
    (("u", "C" * 43 + "=", "S256"), "invalid option: an S256 challenge"),
    (("u", "C" * 42, "plain"), "invalid option: a plain challenge"),
    (("u", "C" * 129, "plain"), "invalid option: a plain challenge"),
    (("", "C" * 43, "S256"), "invalid option: subject"),
    ((None, "C" * 43, "S256"), "invalid option: subject"),
    (("u", "C" * 43, "S256", "[]"), "invalid option: claims must be a JSON object"),
    (("u", "C" * 43, "S256", '{"sub": "x"}'), "invalid option: claims may not set sub"),
    (("u", "C" * 43, "S256", '{"exp": 1, "session_id": 2}'), "invalid option: claims may not set"),
    (("u", "C" * 43, "S256", "{}", "0 seconds"), "invalid option: ttl must be positive"),
    (("u", "C" * 43, "S256", "{}", "-5 minutes"), "invalid option: ttl must be positive"),
])
def test_bad_begin_arguments(admin, args, prefix):
    full = list(args) + ["{}", "5 minutes"][len(args) - 3:]
    fails(admin, "select auth.pkce_begin(%s, %s, %s, %s, %s)", tuple(full), "22023", prefix)


def test_begin_claims_may_set_role(admin, app):
    s = login(admin, app, claims='{"role": "service_role"}')
    assert py_verify(s["access_token"], SECRET.encode())["role"] == "service_role"


def test_reuse_inside_the_interval_returns_the_current_pair(admin, app):
    s = login(admin, app)
    s2 = refresh(app, s["refresh_token"])
    again = refresh(app, s["refresh_token"])  # a client that lost the response
    assert (again["access_token"], again["refresh_token"]) == (s2["access_token"], s2["refresh_token"])
    assert again["session_id"] == s2["session_id"] and set(again) == SESSION_KEYS
    assert token_rows(admin, s["session_id"]) == 2  # no rotation
    s3 = refresh(app, s2["refresh_token"])  # and the current token still rotates
    assert s3["refresh_token"] != s2["refresh_token"]


def test_reuse_outside_the_interval_revokes_the_session(admin, app):
    admin.execute("set auth.refresh_reuse_interval = '1s'")
    s = login(admin, admin)
    s2 = refresh(admin, s["refresh_token"])
    time.sleep(1.2)
    e = fails(admin, "select auth.refresh(%s)", (s["refresh_token"],), "28000",
              "invalid refresh token: reused")
    assert s["refresh_token"] not in str(e)
    # every token of the session is dead, the current one too
    for rt in (s2["refresh_token"], s["refresh_token"]):
        fails(app, "select auth.refresh(%s)", (rt,), "28000", "invalid refresh token: session_revoked")
    fails(app, "select auth.resume(%s, %s)", (s2["access_token"], s2["refresh_token"]), "28000",
          "invalid refresh token: session_revoked")


def test_reuse_of_an_older_token_revokes_even_inside_the_interval(admin, app):
    s = login(admin, app)
    s2 = refresh(app, s["refresh_token"])
    s3 = refresh(app, s2["refresh_token"])
    fails(app, "select auth.refresh(%s)", (s["refresh_token"],), "28000", "invalid refresh token: reused")
    fails(app, "select auth.refresh(%s)", (s3["refresh_token"],), "28000",
          "invalid refresh token: session_revoked")


def test_reuse_revokes_even_when_the_client_rolls_back(admin, app):
    s = login(admin, app)
    s2 = refresh(app, s2_rt := s["refresh_token"])
    s3 = refresh(app, s2["refresh_token"])
    with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
        with app.transaction():
            app.execute("select auth.refresh(%s)", (s2_rt,))
    fails(app, "select auth.refresh(%s)", (s3["refresh_token"],), "28000",
          "invalid refresh token: session_revoked")


def test_revoke_session_and_revoke_all(admin, app):
    sub = str(uuid.uuid4())
    a, b, c = (login(admin, app, sub=sub) for _ in range(3))
    other = login(admin, app, sub=U2)
    admin.execute("select auth.revoke_session(%s)", (a["session_id"],))
    fails(app, "select auth.refresh(%s)", (a["refresh_token"],), "28000", "invalid refresh token: session_revoked")
    admin.execute("select auth.revoke_session(%s)", (a["session_id"],))  # again: a no-op
    admin.execute("select auth.revoke_session(%s)", (str(uuid.uuid4()),))  # unknown: a no-op
    assert one(admin, "select auth.revoke_all(%s)", (sub,)) == 2  # b and c; a was already
    assert one(admin, "select auth.revoke_all(%s)", (sub,)) == 0
    for s in (b, c):
        fails(app, "select auth.refresh(%s)", (s["refresh_token"],), "28000",
              "invalid refresh token: session_revoked")
    assert refresh(app, other["refresh_token"])["user"] == {"id": U2}


def test_expired_session(admin):
    admin.execute("set auth.session_lifetime = '1s'")
    s = login(admin, admin)
    time.sleep(1.2)
    fails(admin, "select auth.refresh(%s)", (s["refresh_token"],), "28000",
          "invalid refresh token: session_expired")
    # an expired session is not counted by revoke_all, nor recorded as revoked
    assert one(admin, "select auth.revoke_all(%s)", ("expired-only",)) == 0
    admin.execute("update sae_internal.sae_flow_sessions set subject = 'expired-only' where id = %s",
                  (s["session_id"],))
    assert one(admin, "select auth.revoke_all(%s)", ("expired-only",)) == 0
    assert one(admin, "select count(*) from sae_internal.sae_flow_revocations where session_id = %s",
               (s["session_id"],)) == 0


def test_access_token_lifetime_setting(admin):
    admin.execute("set auth.access_token_lifetime = '5min'")
    s = login(admin, admin)
    assert s["expires_in"] == 300 and s["expires_at"] - py_verify(s["access_token"], SECRET.encode())["iat"] == 300


def test_resume_refreshes_an_expired_access_token(admin, app):
    admin.execute("set auth.access_token_lifetime = '1s'; set auth.jwt_leeway = 0")
    s = login(admin, admin)
    time.sleep(2.1)
    r = one(admin, "select auth.resume(%s, %s)", (s["access_token"], s["refresh_token"]))
    assert r["refresh_token"] != s["refresh_token"] and r["session_id"] == s["session_id"]


def test_resume_checks_both_tokens(admin, app):
    s, t = login(admin, app), login(admin, app)
    fails(app, "select auth.resume(%s, %s)", (s["access_token"], t["refresh_token"]), "28000",
          "invalid refresh token: unknown")
    forged = s["access_token"][:-4] + ("AAAA" if not s["access_token"].endswith("AAAA") else "BBBB")
    fails(app, "select auth.resume(%s, %s)", (forged, s["refresh_token"]), "28000",
          "invalid JWT: bad_signature")
    fails(app, "select auth.resume(NULL, %s)", (s["refresh_token"],), "28000", "invalid JWT: malformed")
    # a valid token that no flow issued has no session_id
    plain = one(admin, "select auth.sign(%s)", ('{"sub": "x", "aud": "authenticated", "iss": "supabase"}',))
    fails(app, "select auth.resume(%s, %s)", (plain, s["refresh_token"]), "28000", "invalid JWT: missing_claim")
    # a stale refresh token with a valid access token is reuse
    s2 = refresh(app, s["refresh_token"])
    refresh(app, s2["refresh_token"])
    fails(app, "select auth.resume(%s, %s)", (s["access_token"], s["refresh_token"]), "28000",
          "invalid refresh token: reused")


@pytest.mark.parametrize("rt", [None, "", "short", "x" * 44, "A" * 42 + "!"])
def test_malformed_refresh_tokens(app, rt):
    fails(app, "select auth.refresh(%s)", (rt,), "28000", "invalid refresh token: malformed")


def test_unknown_refresh_token(app):
    fails(app, "select auth.refresh(%s)", (secrets.token_urlsafe(32),), "28000",
          "invalid refresh token: unknown")


def test_storage_is_granted_to_nobody(admin, app):
    for t in ("sae_flow_codes", "sae_flow_sessions", "sae_flow_refresh_tokens", "sae_flow_revocations"):
        fails(app, f"select * from sae_internal.{t}", (), "42501")
        acl = one(admin, "select relacl::text[] from pg_class where oid = %s::regclass", (f"sae_internal.{t}",))
        owner = one(admin, "select relowner::regrole::text from pg_class where oid = %s::regclass", (f"sae_internal.{t}",))
        assert all(a.startswith(owner + "=") for a in (acl or [])), acl
    # the privileged steps and the helpers are not PUBLIC's
    for call in ("auth.pkce_begin('u', repeat('C', 43))", "auth.revoke_session(gen_random_uuid())",
                 "auth.revoke_all('u')", "sae_internal.flow_secret()", "sae_internal.flow_revoke(gen_random_uuid())",
                 "sae_internal.flow_claim(repeat('0', 64))", "sae_internal.flow_seal('a', 'b', 'c')"):
        fails(app, f"select {call}", (), "42501")
    # no helper is PUBLIC's: they run only inside the entry points, under their search_path
    open_helpers = [r[0] for r in admin.execute("""select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'sae_internal'::regnamespace and left(p.proname, 5) = 'flow_'
        and has_function_privilege('public', p.oid, 'execute')""")]
    assert open_helpers == [] and one(admin, """select count(*) from pg_proc
        where pronamespace = 'sae_internal'::regnamespace and left(proname, 5) = 'flow_'""") == 27
    # every entry point is SECURITY DEFINER with a fixed search_path
    rows = admin.execute("""select p.proname, p.prosecdef, p.proconfig from pg_proc p
        where p.pronamespace = 'auth'::regnamespace and p.proname in
        ('pkce_begin','pkce_exchange','refresh','resume','revoke_session','revoke_all')""").fetchall()
    assert len(rows) == 6
    for name, secdef, config in rows:
        assert secdef and config == ["search_path=pg_catalog, pg_temp"], (name, config)
    # Supabase Auth's own names stay free
    assert one(admin, """select count(*) from pg_class where relnamespace = 'auth'::regnamespace
        and relname in ('users', 'sessions', 'refresh_tokens', 'flow_state')""") == 0


def test_read_only_transaction_gets_25006(admin, app):
    s = login(admin, app)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        with app.transaction():
            app.execute("set transaction read only")
            app.execute("select auth.refresh(%s)", (s["refresh_token"],))
    assert refresh(app, s["refresh_token"])["session_id"] == s["session_id"]


def test_cleanup_is_bounded_and_done_by_the_functions(admin):
    admin.execute("delete from sae_internal.sae_flow_codes")
    _, challenge = pkce_pair()
    for _ in range(40):
        begin(admin, "cleanup", challenge)
    admin.execute("update sae_internal.sae_flow_codes set expires_at = now() - interval '1 second'")
    begin(admin, "cleanup", challenge)  # removes 32 of the 40 expired codes
    assert one(admin, "select count(*) from sae_internal.sae_flow_codes where expires_at < now()") == 8
    begin(admin, "cleanup", challenge)
    assert one(admin, "select count(*) from sae_internal.sae_flow_codes where expires_at < now()") == 0
    # a session that ended more than a day ago goes, with its tokens
    s = login(admin, admin)
    admin.execute("insert into sae_internal.sae_flow_revocations values (%s, now() - interval '25 hours')",
                  (s["session_id"],))
    begin(admin, "cleanup", challenge)
    assert one(admin, "select count(*) from sae_internal.sae_flow_sessions where id = %s", (s["session_id"],)) == 0
    assert token_rows(admin, s["session_id"]) == 0


def test_the_functions_scan_no_table(admin, dbname):
    """Every lookup of the flows goes through an index (with seq scans disabled, a query
    that cannot use one still seq-scans, and pg_stat_xact_user_tables counts it). A fresh
    connection: the view also shows a backend's earlier, not yet flushed counts."""
    s = login(admin, admin)
    verifier, challenge = pkce_pair()
    with connect(dbname) as c:
        c.execute("set enable_seqscan = off")
        with c.transaction():
            code = begin(c, U1, challenge)
            s2 = one(c, "select auth.pkce_exchange(%s, %s)", (code, verifier))
            refresh(c, s["refresh_token"])
            refresh(c, s["refresh_token"])  # the previous token: the current pair
            one(c, "select auth.resume(%s, %s)", (s2["access_token"], s2["refresh_token"]))
            c.execute("select auth.revoke_all('nobody')")
            scans = c.execute("""select relname, seq_scan, idx_scan from pg_stat_xact_user_tables
                where schemaname = 'sae_internal' and relname like 'sae_flow_%'""").fetchall()
    assert len(scans) == 4 and all(n == 0 and i > 0 for _, n, i in scans), scans


def test_cleanup_reads_only_what_it_deletes(admin, dbname):
    """Bounded work: with hundreds of live codes and sessions, pkce_begin's cleanup reads
    a handful of rows, not all of them."""
    _, challenge = pkce_pair()
    for _ in range(300):
        begin(admin, "bulk", challenge)
    for _ in range(100):
        login(admin, admin, sub="bulk")
    with connect(dbname) as c:
        with c.transaction():
            begin(c, "bulk", challenge)
            read = dict(c.execute("""select relname, idx_tup_fetch + seq_tup_read
                from pg_stat_xact_user_tables where relname in ('sae_flow_codes', 'sae_flow_sessions')""").fetchall())
    assert read["sae_flow_codes"] < 40 and read["sae_flow_sessions"] < 40, read


def test_explain_uses_indexes(admin):
    admin.execute("set enable_seqscan = off")
    for sql in ("select * from sae_internal.sae_flow_codes where code_hash = '\\x00'",
                "select * from sae_internal.sae_flow_refresh_tokens where token_hash = '\\x00'",
                "select * from sae_internal.sae_flow_sessions where subject = 'x'",
                "select * from sae_internal.sae_flow_refresh_tokens where session_id = '00000000-0000-0000-0000-000000000000'",
                "select * from sae_internal.sae_flow_sessions where not_after < now()",
                "select * from sae_internal.sae_flow_revocations where session_id = '00000000-0000-0000-0000-000000000000'",
                "select * from sae_internal.sae_flow_revocations where revoked_at < now()",
                "select * from sae_internal.sae_flow_codes where expires_at < now()"):
        plan = "\n".join(r[0] for r in admin.execute("explain " + sql))
        assert "Index" in plan, plan


# --- concurrency ---------------------------------------------------------------------------

def test_concurrent_refresh_of_one_token_rotates_once(admin, dbname, capsys):
    n, rounds = 32, 20
    conns = [connect(dbname, user=AUTHN) for _ in range(n)]
    rotations = same = errors = 0
    try:
        s = login(admin, conns[0])
        rt = s["refresh_token"]
        for r in range(rounds):
            barrier = threading.Barrier(n)
            results = [None] * n

            def worker(i):
                barrier.wait()
                try:
                    results[i] = one(conns[i], "select auth.refresh(%s)", (rt,))
                except psycopg.Error as e:
                    results[i] = e

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "a refresh hung"
            errs = [x for x in results if isinstance(x, Exception)]
            errors += len(errs)
            assert not errs, [str(e) for e in errs]
            pairs = {(x["access_token"], x["refresh_token"]) for x in results}
            assert len(pairs) == 1, f"round {r}: {len(pairs)} different pairs"
            same += n
            new_rt = results[0]["refresh_token"]
            assert new_rt != rt
            rotations += 1
            rt = new_rt
        assert token_rows(admin, s["session_id"]) == rounds + 1  # exactly one rotation a round
        assert one(admin, """select count(*) from sae_internal.sae_flow_refresh_tokens t
            where not exists (select 1 from sae_internal.sae_flow_sessions s where s.id = t.session_id)""") == 0
        assert refresh(admin, rt)["session_id"] == s["session_id"]
    finally:
        for c in conns:
            c.close()
    with capsys.disabled():
        print(f"\n  concurrent refresh: {rounds} rounds x {n} connections: {rotations} rotations, "
              f"{same} callers got the current pair, {errors} errors")


def test_many_sessions_refresh_loops(admin, dbname, capsys):
    n, seconds = 32, 5.0
    conns = [connect(dbname, user=AUTHN) for _ in range(n)]
    sessions = [login(admin, c, sub=str(uuid.uuid4())) for c in conns]
    counts, failures = [0] * n, []
    deadline = time.time() + seconds
    barrier = threading.Barrier(n)

    def loop(i):
        rt = sessions[i]["refresh_token"]
        barrier.wait()
        try:
            while time.time() < deadline:
                s = one(conns[i], "select auth.refresh(%s)", (rt,))
                assert s["session_id"] == sessions[i]["session_id"]
                rt = s["refresh_token"]
                counts[i] += 1
            sessions[i]["refresh_token"] = rt
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(f"{i}: {e}")

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + 60)
        assert not any(t.is_alive() for t in threads)
        assert not failures, failures
        # no session lost: each is live and its last token still rotates; no orphans
        for s, k in zip(sessions, counts):
            assert token_rows(admin, s["session_id"]) == min(k + 1, 64)
            assert refresh(admin, s["refresh_token"])["session_id"] == s["session_id"]
        live = one(admin, """select count(*) from sae_internal.sae_flow_sessions s where id = any(%s)
                   and not exists (select 1 from sae_internal.sae_flow_revocations r where r.session_id = s.id)""",
                   ([uuid.UUID(s["session_id"]) for s in sessions],))
        assert live == n
    finally:
        for c in conns:
            c.close()
    with capsys.disabled():
        print(f"\n  refresh loops: {n} sessions x {seconds:.0f} s: {sum(counts)} refreshes "
              f"(min {min(counts)}, max {max(counts)} per session), {len(failures)} failures, "
              f"{n - live} sessions lost")
