"""auth.authenticate behind PgBouncer in transaction pooling mode: 50 clients share a few
server connections, each looping requests with its own user's token. A role or claims
leaking from one transaction into another client's would show up as a row, a
current_user or an auth.uid() that is not the client's own. With auth.session_check on,
ten of the clients hold flow sessions that are revoked halfway through the run: once a
revocation has committed, none of their requests is served, on any server connection."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import psycopg
import pytest
from conftest import AUTHN, configure_login, connect, key_token, user_token
from test_flows import login as flow_login

CLIENTS = 50
SECONDS = float(os.environ.get("SAE_POOL_SECONDS", "10"))
POOL_SIZE = 6
REVOKED = 10  # clients 0..9 hold flow sessions, revoked mid-run
USERS = [str(uuid.uuid4()) for _ in range(CLIENTS)]
ITEMS = f"""
create table items (owner uuid, body text);
insert into items select u::uuid, 'row-' || g from unnest(array{USERS}) u, generate_series(1, 3) g;
insert into items values (null, 'public');
alter table items enable row level security;
create policy own on items for select to authenticated using (owner = auth.uid());
create policy pub on items for select to anon using (owner is null);
grant select on items to anon, authenticated;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bouncer(dbname):
    if not shutil.which("pgbouncer"):
        pytest.fail("pgbouncer is not installed (scripts/setup.sh installs it)")
    work = tempfile.mkdtemp(prefix="sae-pgbouncer-")
    shutil.chown(work, "postgres")
    port = free_port()
    with open(f"{work}/users.txt", "w") as f:
        f.write(f'"{AUTHN}" ""\n')
    with open(f"{work}/pgbouncer.ini", "w") as f:
        f.write(f"""[databases]
{dbname} = host={os.environ["PGHOST"]} port={os.environ["PGPORT"]} dbname={dbname}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work}/users.txt
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = {CLIENTS * 2}
logfile = {work}/pgbouncer.log
""")
    proc = subprocess.Popen(["sudo", "-u", "postgres", "pgbouncer", f"{work}/pgbouncer.ini"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    with configure_login(dbname, ITEMS):
        yield port
    proc.terminate()  # sudo passes the signal on to pgbouncer
    proc.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)


def test_no_leak_across_pooled_transactions(bouncer, dbname, capsys):
    anon_key = key_token("anon")
    counts = {"requests": 0, "anon": 0, "leaks": 0, "errors": 0, "refused": 0, "served_after_revoke": 0}
    problems = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS + 1)
    with connect(dbname) as admin:
        admin.execute(f'alter database "{dbname}" set auth.session_check = flows')
        sessions = [flow_login(admin, admin, sub=USERS[i]) for i in range(REVOKED)]
    revoked_at = {}  # client -> monotonic time its revocation had committed

    def client(i):
        me = USERS[i]
        bearer = "Bearer " + (sessions[i]["access_token"] if i < REVOKED else user_token(me))
        mine = {k: 0 for k in counts}
        # prepare_threshold=None: no server-side prepared statements through the pooler
        with psycopg.connect(host="127.0.0.1", port=bouncer, dbname=dbname, user=AUTHN,
                             autocommit=True, prepare_threshold=None) as conn:
            barrier.wait()
            end = time.monotonic() + SECONDS
            n = 0
            while time.monotonic() < end:
                n += 1
                anon = n % 5 == 0
                start = time.monotonic()
                try:
                    with conn.transaction():
                        conn.execute("select auth.authenticate(%s, %s)", (anon_key, None if anon else bearer))
                        who = conn.execute("select current_user::text, auth.uid()::text").fetchone()
                        rows = conn.execute("select owner::text, body from items").fetchall()
                except psycopg.Error as e:
                    if i < REVOKED and not anon and e.diag.message_primary == "invalid JWT: revoked":
                        mine["refused"] += 1
                        continue
                    mine["errors"] += 1
                    problems.append(f"client {i}: {e}")
                    continue
                if not anon and i in revoked_at and start > revoked_at[i]:
                    mine["served_after_revoke"] += 1
                    problems.append(f"client {i} was served after its session was revoked")
                mine["requests"] += 1
                if anon:
                    mine["anon"] += 1
                    ok = who == ("anon", None) and rows == [(None, "public")]
                else:
                    ok = who == ("authenticated", me) and len(rows) == 3 and all(o == me for o, _ in rows)
                if not ok:
                    mine["leaks"] += 1
                    problems.append(f"client {i} saw {who} {rows[:3]}")
            # after the last request the connection is the authenticator again
            with conn.transaction():
                if conn.execute("select current_user::text, auth.uid()").fetchone() != (AUTHN, None):
                    mine["leaks"] += 1
        with lock:
            for k, v in mine.items():
                counts[k] += v

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    barrier.wait()
    time.sleep(SECONDS / 2)
    with connect(dbname) as admin:
        for i, s in enumerate(sessions):
            admin.execute("select auth.revoke_session(%s)", (s["session_id"],))
            revoked_at[i] = time.monotonic()
    for t in threads:
        t.join()
    with psycopg.connect(dbname=dbname, autocommit=True) as c:
        backends = c.execute("select count(*) from pg_stat_activity where usename = %s", (AUTHN,)).fetchone()[0]
    with capsys.disabled():  # the counts belong in the test log
        print(f"\npool: {CLIENTS} clients over PgBouncer (transaction pooling, pool size {POOL_SIZE}, "
              f"{backends} server connections) for {SECONDS:.0f} s: {counts['requests']} requests "
              f"({counts['anon']} anonymous), {counts['leaks']} leaks, {counts['errors']} errors; "
              f"{REVOKED} sessions revoked mid-run: {counts['refused']} requests refused, "
              f"{counts['served_after_revoke']} served after their revocation")
    assert counts["leaks"] == 0 and counts["errors"] == 0, problems[:5]
    assert counts["served_after_revoke"] == 0 and counts["refused"] >= REVOKED, (counts, problems[:5])
    assert counts["requests"] >= CLIENTS * 5, counts
    assert backends <= POOL_SIZE, "the clients really shared server connections"


def test_provider_tokens_through_login_on_pooled_connections(bouncer, dbname):
    """auth.provider_token after auth.authenticate, each client its own subject's tokens,
    over the few shared server connections; a transaction without a login reads none."""
    key = "a-vault-key-for-the-pooled-provider-tokens-0123"
    with connect(dbname) as admin:
        admin.execute("alter system set auth.vault_key = %s" % psycopg.sql.quote(key))
        admin.execute("select pg_reload_conf()")
        admin.execute("set auth.vault_key = %s" % psycopg.sql.quote(key))  # this session: now
        for u in USERS[:8]:
            admin.execute("select auth.provider_token_put(%s, 'spotify', %s)",
                          (u, psycopg.types.json.Jsonb({"refresh_token": "rt-" + u})))
    time.sleep(0.2)
    anon_key = key_token("anon")
    problems = []

    def client(i):
        me = USERS[i]
        with psycopg.connect(host="127.0.0.1", port=bouncer, dbname=dbname, user=AUTHN,
                             autocommit=True, prepare_threshold=None) as conn:
            for n in range(40):
                with conn.transaction():
                    if n % 4 == 3:  # no login in this transaction: nobody's tokens
                        got = conn.execute("select auth.provider_token('spotify')").fetchone()[0]
                        if got is not None:
                            problems.append(f"client {i} read {got} without a login")
                        continue
                    conn.execute("select auth.authenticate(%s, %s)", (anon_key, "Bearer " + user_token(me)))
                    got = conn.execute("select auth.provider_token('spotify')").fetchone()[0]
                    if got != {"refresh_token": "rt-" + me}:
                        problems.append(f"client {i} read {got}")

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        with connect(dbname) as admin:
            admin.execute("alter system reset auth.vault_key")
            admin.execute("select pg_reload_conf()")
    assert problems == [], problems[:5]
