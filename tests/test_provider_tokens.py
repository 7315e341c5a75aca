"""Contract section 4c: provider tokens kept in the database, sealed under auth.vault_key and
bound to their subject and provider. The server side (put, of, delete) runs as a superuser
or a granted role; auth.provider_token runs as the request's user after auth.login."""
import uuid

import psycopg
import pytest
from conftest import AUTHN, configure_login, connect, fails, one, user_token

VAULT_KEY = "a-vault-key-for-provider-tokens-0123456789"
U1, U2 = str(uuid.uuid4()), str(uuid.uuid4())
SPOTIFY = {"access_token": "sp-at-" + uuid.uuid4().hex, "refresh_token": "sp-rt-" + uuid.uuid4().hex,
           "expires_at": 1999999999}


@pytest.fixture(scope="module", autouse=True)
def configured(dbname):
    with configure_login(dbname):
        with connect(dbname) as c:
            c.execute("alter system set auth.vault_key = %s" % psycopg.sql.quote(VAULT_KEY))
            c.execute("select pg_reload_conf()")
        yield
        with connect(dbname) as c:
            c.execute("alter system reset auth.vault_key")
            c.execute("select pg_reload_conf()")


def put(conn, sub, provider, tokens):
    conn.execute("select auth.provider_token_put(%s, %s, %s)", (sub, provider, psycopg.types.json.Jsonb(tokens)))


def test_round_trip_update_and_delete(admin):
    put(admin, U1, "spotify", SPOTIFY)
    assert one(admin, "select auth.provider_token_of(%s, 'spotify')", (U1,)) == SPOTIFY
    newer = {**SPOTIFY, "access_token": "sp-at-2"}
    put(admin, U1, "spotify", newer)
    assert one(admin, "select auth.provider_token_of(%s, 'spotify')", (U1,)) == newer
    assert one(admin, "select auth.provider_token_of(%s, 'github')", (U1,)) is None
    assert one(admin, "select auth.provider_token_delete(%s, 'spotify')", (U1,)) is True
    assert one(admin, "select auth.provider_token_delete(%s, 'spotify')", (U1,)) is False
    assert one(admin, "select auth.provider_token_of(%s, 'spotify')", (U1,)) is None


def test_no_clear_text_in_the_table(admin):
    put(admin, U1, "spotify", SPOTIFY)
    row = admin.execute("select t::text, sealed from sae_internal.sae_provider_tokens t "
                        "where subject = %s", (U1,)).fetchone()
    for secret in (SPOTIFY["access_token"], SPOTIFY["refresh_token"], VAULT_KEY):
        assert secret not in row[0] and secret.encode() not in bytes(row[1])


def test_a_row_moved_to_another_subject_or_provider_does_not_open(admin):
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())  # rows of its own: it breaks them
    put(admin, u1, "spotify", SPOTIFY)
    put(admin, u2, "spotify", {"refresh_token": "u2-rt"})
    # U2's row gets U1's ciphertext: it must not open as U2's
    admin.execute("""update sae_internal.sae_provider_tokens set sealed = (select sealed from
                     sae_internal.sae_provider_tokens where subject = %s and provider = 'spotify')
                     where subject = %s and provider = 'spotify'""", (u1, u2))
    err = fails(admin, "select auth.provider_token_of(%s, 'spotify')", (u2,), "XX001",
                "a provider token does not open under auth.vault_key")
    assert SPOTIFY["refresh_token"] not in str(err)
    admin.execute("""insert into sae_internal.sae_provider_tokens select subject, 'github', sealed, now()
                     from sae_internal.sae_provider_tokens where subject = %s and provider = 'spotify'""", (u1,))
    fails(admin, "select auth.provider_token_of(%s, 'github')", (u1,), "XX001")
    # and under another vault key nothing opens
    admin.execute("set auth.vault_key = %s" % psycopg.sql.quote(VAULT_KEY + "-rotated"))
    fails(admin, "select auth.provider_token_of(%s, 'spotify')", (u1,), "XX001")


@pytest.mark.parametrize("key,prefix", [
    ("", "invalid key: auth.vault_key is not set"),
    ("only-31-bytes-long-key-01234567", "invalid key: auth.vault_key must be at least 32 bytes"),
])
def test_a_missing_or_short_key(admin, key, prefix):
    admin.execute("set auth.vault_key = %s" % psycopg.sql.quote(key))
    err = fails(admin, "select auth.provider_token_put(%s, 'spotify', '{}')", (U1,), "22023", prefix)
    assert not key or key not in str(err)


def test_bad_arguments(admin):
    fails(admin, "select auth.provider_token_put(%s, 'spotify', '[1]')", (U1,), "22023",
          "invalid option: tokens must be a JSON object")
    fails(admin, "select auth.provider_token_put('', 'spotify', '{}')", (), "22023",
          "invalid option: subject and provider must be non-empty texts")


def test_the_request_subject_reads_its_own_tokens_only(admin, app):
    put(admin, U1, "spotify", SPOTIFY)
    put(admin, U2, "spotify", {"refresh_token": "u2-rt"})
    with app.transaction():
        app.execute("select auth.login(%s)", (user_token(U1),))
        assert one(app, "select auth.provider_token('spotify')") == SPOTIFY
        assert one(app, "select auth.provider_token('github')") is None
        # the server-side functions and the table are not the user's
        for sql in ("select auth.provider_token_of('%s', 'spotify')" % U2,
                    "select auth.provider_token_put('%s', 'spotify', '{}')" % U1):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with app.transaction():
                    app.execute(sql)
    with app.transaction():
        app.execute("select auth.login(%s)", (user_token(U2),))
        assert one(app, "select auth.provider_token('spotify')") == {"refresh_token": "u2-rt"}
    # outside a verified request: nobody
    assert one(app, "select auth.provider_token('spotify')") is None
    fails(app, "select * from sae_internal.sae_provider_tokens", (), "42501")


@pytest.mark.parametrize("who", ["authenticator", "superuser"])
def test_request_settings_made_by_hand_name_nobody(admin, app, who):
    """Whoever can run SQL can set request.jwt.claims; auth.provider_token answers only for
    claims auth.login verified in this transaction, so a hand-made sub reads nothing, and
    neither does one set after a real login."""
    put(admin, U1, "spotify", SPOTIFY)
    conn = app if who == "authenticator" else admin
    with conn.transaction():
        conn.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub":"{U1}"}}',))
        assert one(conn, "select auth.provider_token('spotify')") is None
    with app.transaction():
        app.execute("select auth.login(%s)", (user_token(U2),))
        app.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub":"{U1}"}}',))
        assert one(app, "select auth.provider_token('spotify')") is None


def test_the_service_role_may_be_granted_the_server_side(admin, dbname):
    admin.execute("grant execute on function auth.provider_token_put(text, text, jsonb), "
                  "auth.provider_token_of(text, text) to service_role")
    try:
        with connect(dbname, user=AUTHN) as app:
            with app.transaction():
                app.execute("set local role service_role")
                put(app, U2, "spotify", {"refresh_token": "from-the-server"})
                assert one(app, "select auth.provider_token_of(%s, 'spotify')", (U2,)) == \
                    {"refresh_token": "from-the-server"}
    finally:
        admin.execute("revoke execute on function auth.provider_token_put(text, text, jsonb), "
                      "auth.provider_token_of(text, text) from service_role")


def test_the_vault_key_is_hidden_from_everyone_else(app):
    fails(app, "show auth.vault_key", (), "42501")
    fails(app, "select current_setting('auth.vault_key')", (), "42501")
    assert app.execute("select setting from pg_settings where name = 'auth.vault_key'").fetchall() in ([], [(None,)])


def test_storing_the_vault_key_where_all_can_read_it_warns(admin, dbname):
    notices = []
    admin.add_notice_handler(lambda d: notices.append(d.message_primary))
    admin.execute(f'alter database "{dbname}" set auth.vault_key = %s' % psycopg.sql.quote(VAULT_KEY))
    admin.execute(f'alter database "{dbname}" reset auth.vault_key')
    assert any("auth.vault_key is stored in pg_db_role_setting" in n for n in notices), notices


def test_behind_postgrest_a_pre_request_function_verifies_the_claims(admin, dbname):
    """PostgREST sets the role and request.jwt.claims itself, then calls its db-pre-request
    function: one that calls auth.login with the request's bearer token makes the claims
    verified ones (README, provider tokens). Simulated here as PostgREST's statements."""
    put(admin, U1, "spotify", SPOTIFY)
    admin.execute("""create or replace function public.verify_request() returns void language sql as $$
      select auth.login(nullif(split_part(coalesce(
        current_setting('request.headers', true)::json ->> 'authorization', ''), ' ', 2), ''))::text
      $$""")
    token = user_token(U1)
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select set_config('role', 'authenticated', true)")
            app.execute("select set_config('request.jwt.claims', %s, true)", (f'{{"sub":"{U1}","role":"authenticated"}}',))
            assert one(app, "select auth.provider_token('spotify')") is None  # PostgREST's own claims
            app.execute("select set_config('request.headers', %s, true)",
                        (f'{{"authorization":"Bearer {token}"}}',))
            app.execute("select public.verify_request()")
            assert one(app, "select auth.provider_token('spotify')") == SPOTIFY


def test_code_running_with_other_rights_reads_nothing(admin, dbname):
    """The security review of 0.5.0: provider tokens are for the logged-in user's own SQL.
    A SECURITY DEFINER function of another role, an access token hook, and a token issued
    to a registered (third-party) client all read NULL, in a transaction where the user
    logged in."""
    put(admin, U1, "spotify", SPOTIFY)
    admin.execute("""do $$ begin if not exists (select 1 from pg_roles where rolname = 'sae_thief')
                     then create role sae_thief nologin; end if; end $$""")
    admin.execute("create table if not exists public.loot (got jsonb)")
    admin.execute("grant insert, select on public.loot to sae_thief, authenticated")
    admin.execute("""create or replace function public.steal() returns void language plpgsql
                     security definer as $$ begin
                     insert into public.loot select auth.provider_token('spotify'); end $$""")
    admin.execute("alter function public.steal() owner to sae_thief")
    admin.execute("grant execute on function public.steal() to authenticated")
    admin.execute("truncate public.loot")
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (user_token(U1),))
            assert one(app, "select auth.provider_token('spotify')") == SPOTIFY  # the user's own
            app.execute("select public.steal()")
    assert [r[0] for r in admin.execute("select got from public.loot")] == [None]
    # a token issued to a registered client
    cid = "third-party-" + uuid.uuid4().hex[:6]
    admin.execute("select auth.register_client(%s, array['https://app.example.com/cb'])", (cid,))
    from conftest import pkce_pair
    verifier, challenge = pkce_pair()
    code = one(admin, "select auth.authorize(%s, 'https://app.example.com/cb', %s, %s)", (cid, U1, challenge))
    s = one(admin, "select auth.token(%s, %s, 'https://app.example.com/cb', %s)", (code, cid, verifier))
    with connect(dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (s["access_token"],))
            assert one(app, "select auth.uid()::text") == U1
            assert one(app, "select auth.provider_token('spotify')") is None
