"""A streaming hot standby (pg_basebackup of the test cluster, on a socket of its own):
verification, auth.login and the auth.* helpers work there; the flow functions raise 25006."""
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import psycopg
import pytest
from conftest import AUTHN, SECRET, configure_login, connect, fails, one, user_token
from test_flows import login as flow_login

U1 = str(uuid.uuid4())
ITEMS = f"""
create table items (id serial primary key, owner uuid, body text);
insert into items (owner, body) values ('{U1}', 'mine'), (gen_random_uuid(), 'theirs');
alter table items enable row level security;
create policy own on items for select to authenticated using (owner = auth.uid());
grant select on items to authenticated;
"""


def as_postgres(*args):
    subprocess.run(["sudo", "-u", "postgres", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def standby(dbname):
    bindir = os.environ["SAE_BINDIR"]
    with configure_login(dbname, ITEMS):
        with connect(dbname) as admin, connect(dbname, user=AUTHN) as app:
            session = flow_login(admin, app, sub=U1)
        home = tempfile.mkdtemp(prefix="sae-standby-")
        shutil.chown(home, "postgres", "postgres")
        os.chmod(home, 0o700)
        port = int(os.environ["PGPORT"]) + 100
        try:
            as_postgres(f"{bindir}/pg_basebackup", "-D", f"{home}/data", "-R", "-X", "stream", "-c", "fast",
                        "-h", os.environ["PGHOST"], "-p", os.environ["PGPORT"], "-U", "postgres")
            as_postgres(f"{bindir}/pg_ctl", "-D", f"{home}/data", "-l", f"{home}/log", "-w", "start",
                        "-o", f"-c listen_addresses='' -k {home} -p {port} -c fsync=off "
                        "-c max_connections=200")
            yield {"host": home, "port": port, "session": session}
        finally:
            subprocess.run(["sudo", "-u", "postgres", f"{bindir}/pg_ctl", "-D", f"{home}/data",
                            "-m", "immediate", "stop"], capture_output=True)
            shutil.rmtree(home, ignore_errors=True)


def on_standby(standby, dbname, **kw):
    return psycopg.connect(dbname=dbname, host=standby["host"], port=standby["port"],
                           autocommit=True, **kw)


def test_it_is_a_streaming_standby(standby, dbname):
    with on_standby(standby, dbname) as c:
        assert one(c, "select pg_is_in_recovery()") is True
    with connect(dbname) as primary:
        deadline = time.time() + 10
        while one(primary, "select count(*) from pg_stat_replication where state = 'streaming'") < 1:
            assert time.time() < deadline, "the standby never streamed"
            time.sleep(0.1)


def test_verification_and_helpers_work_on_the_standby(standby, dbname):
    token = user_token(U1)
    with on_standby(standby, dbname) as c:
        claims = one(c, "select jwt_verify(%s, %s)", (token, SECRET))
        assert claims["sub"] == U1
        assert one(c, "select jwt_is_valid(%s, 'wrong-secret-wrong-secret-wrong-secret')", (token,)) is False
        fails(c, "select jwt_verify(%s, 'wrong-secret-wrong-secret-wrong-secret')", (token,), "28000")
        assert one(c, "select pkce_verify(repeat('a', 43), pkce_challenge(repeat('a', 43)))") is True
        c.execute("select set_config('request.jwt.claims', %s, false)", (f'{{"sub":"{U1}","role":"x"}}',))
        assert one(c, "select auth.uid()::text") == U1 and one(c, "select auth.role()") == "x"
        assert one(c, "select valid from pgjwt.verify(pgjwt.sign('{\"a\":1}', 'k'), 'k')") is True
    with on_standby(standby, dbname, user=AUTHN) as app:
        with app.transaction():
            app.execute("select auth.login(%s)", (token,))
            assert one(app, "select current_user::text") == "authenticated"
            assert [r[0] for r in app.execute("select body from items")] == ["mine"]
        # an access token the flows issued on the primary logs in here too
        with app.transaction():
            app.execute("select auth.login(%s)", (standby["session"]["access_token"],))
            assert one(app, "select auth.uid()::text") == U1


def test_flow_functions_raise_25006_on_the_standby(standby, dbname, capsys):
    s = standby["session"]
    calls = [("select auth.pkce_begin('u', repeat('C', 43))", ()),
             ("select auth.pkce_exchange(repeat('C', 43), repeat('v', 43))", ()),
             ("select auth.refresh(%s)", (s["refresh_token"],)),
             ("select auth.resume(%s, %s)", (s["access_token"], s["refresh_token"])),
             ("select auth.revoke_session(%s)", (s["session_id"],)),
             ("select auth.revoke_all('u')", ())]
    with on_standby(standby, dbname) as c:
        for sql, args in calls:
            fails(c, sql, args, "25006", "auth flows cannot run on a hot standby")
    with capsys.disabled():
        print(f"\n  standby: verification, login and helpers work; {len(calls)} flow functions gave 25006")


def test_a_revocation_on_the_primary_ends_the_token_on_the_standby(standby, dbname):
    """Section 3b on a replica: the session check reads there with no write, and a
    revocation made on the primary counts once the standby has replayed it."""
    with connect(dbname) as primary, connect(dbname, user=AUTHN) as app:
        s = flow_login(primary, app, sub=U1)
        primary.execute(f'alter database "{dbname}" set auth.session_check = flows')
        try:
            def standby_login():
                with on_standby(standby, dbname, user=AUTHN) as c, c.transaction():
                    c.execute("select auth.login(%s)", (s["access_token"],))
                    return one(c, "select auth.uid()::text")

            def replayed():
                lsn = one(primary, "select pg_current_wal_lsn()::text")
                with on_standby(standby, dbname) as c:
                    deadline = time.time() + 10
                    while not one(c, "select pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)):
                        assert time.time() < deadline, "the standby did not replay"
                        time.sleep(0.05)

            replayed()
            assert standby_login() == U1
            primary.execute("select auth.revoke_session(%s)", (s["session_id"],))
            replayed()
            with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification) as e:
                standby_login()
            assert e.value.diag.message_primary == "invalid JWT: revoked"
        finally:
            primary.execute(f'alter database "{dbname}" reset auth.session_check')
