"""Benchmarks, side by side in one run; prints a Markdown report to stdout.

Run through bench/run.sh, which builds release, starts a throwaway cluster and passes
connection settings in the environment.
"""
import json
import os
import subprocess
import sys
import time

import psycopg

SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
N_TOKENS = 20_000
N_ROWS = 1_000_000
N_PKCE = 200_000
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
U1 = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

conn = psycopg.connect(dbname=os.environ["BENCH_DB"], autocommit=True)


def timed(sql, setup=()):
    """Wall time in ms of one run of `sql`, in its own transaction after `setup`."""
    with conn.transaction():
        for s in setup:
            conn.execute(s)
        t = time.perf_counter()
        conn.execute(sql).fetchall()
        return (time.perf_counter() - t) * 1000


def best(sql, runs=RUNS, setup=()):
    """Best wall time in ms of `sql` over `runs` runs."""
    return min(timed(sql, setup) for _ in range(runs))


def side_by_side(cases, runs=RUNS):
    """Best time per case, running the cases round-robin so that drift in the machine's
    speed (a VM's neighbours) hits every case alike. cases: {name: (sql, setup)}."""
    times = {name: [] for name in cases}
    for _ in range(runs):
        for name, (sql, setup) in cases.items():
            times[name].append(timed(sql, setup))
    return {name: min(t) for name, t in times.items()}


def prepare():
    conn.execute("set max_parallel_workers_per_gather = 0")
    conn.execute("drop table if exists toks, rls_rows, pkce_pairs")
    conn.execute("""
      create table toks as
        select jwt_sign(jsonb_build_object(
          'aud', 'authenticated', 'exp', 1999999999, 'iat', 1700000000 + g,
          'iss', 'https://abcdefghijklmnop.supabase.co/auth/v1',
          'sub', gen_random_uuid(), 'email', 'user' || g || '@example.com', 'phone', '',
          'app_metadata', jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email')),
          'user_metadata', '{}'::jsonb,
          'role', 'authenticated', 'aal', 'aal1',
          'amr', jsonb_build_array(jsonb_build_object('method', 'password', 'timestamp', 1700000000 + g)),
          'session_id', gen_random_uuid(), 'is_anonymous', false), %s) as t
        from generate_series(1, %s) g;
    """, (SECRET, N_TOKENS))
    conn.execute("""
      create table rls_rows as
        select g as id, case when g %% 1000 = 0 then %s::uuid else gen_random_uuid() end as user_id
        from generate_series(1, %s) g""", (U1, N_ROWS))
    conn.execute("alter table rls_rows enable row level security")
    conn.execute("""
      create table pkce_pairs as
        select v, pkce_challenge(v) as c from (select pkce_verifier(64) v from generate_series(1, %s)) s
    """, (N_PKCE,))
    conn.execute("vacuum analyze toks, rls_rows, pkce_pairs")
    conn.execute("""
      create schema if not exists supa;
      create or replace function supa.uid() returns uuid language sql stable as $$
        select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$;
    """)
    policies = {
        "literal": f"user_id = '{U1}'::uuid",
        "bare": "user_id = auth.uid()",
        "select_wrapped": "user_id = (select auth.uid())",
        "supabase_sql": "user_id = supa.uid()",
        "supabase_sql_wrapped": "user_id = (select supa.uid())",
    }
    for name, using in policies.items():
        role = f"bench_{name}"
        conn.execute(f"""
          do $$ begin if not exists (select 1 from pg_roles where rolname = '{role}') then
            create role {role} nologin; end if; end $$;
          drop policy if exists p_{name} on rls_rows;
          create policy p_{name} on rls_rows for select to {role} using ({using});
          grant select on rls_rows to {role};
          grant usage on schema auth, supa to {role};
        """)
    return policies


def main():
    policies = prepare()
    claims = json.dumps({"sub": U1, "role": "authenticated"})
    out = []
    version = conn.execute("show server_version").fetchone()[0]
    out.append(f"PostgreSQL {version}, release build, one backend, parallel query off. Variants of one table run "
               f"round-robin and each figure is the best of its runs ({2 * RUNS} for jwt, {3 * RUNS} for RLS, "
               f"{RUNS} for PKCE, 3 for Supabase's SQL uid()), so that the VM's drift hits all alike.\n")

    # 1. jwt_verify over 20k distinct Supabase-style tokens
    avg_len = conn.execute("select avg(length(t))::int from toks").fetchone()[0]
    r = side_by_side({
        "base": ("select count(*) from toks where t is not null", ()),
        "verify": (f"select count(*) from toks where jwt_verify(t, '{SECRET}') is not null", ()),
        "is_valid": (f"select count(*) from toks where jwt_is_valid(t, '{SECRET}')", ()),
        "decode": ("select count(*) from toks where jwt_decode(t) is not null", ()),
    }, runs=2 * RUNS)
    base, verify, is_valid, decode = r["base"], r["verify"], r["is_valid"], r["decode"]
    tokens_file = os.environ["BENCH_TOKENS"]
    with open(tokens_file, "w") as f:
        for (t,) in conn.execute("select t from toks"):
            f.write(t + "\n")
    floor = float(subprocess.check_output([os.environ["BENCH_FLOOR_BIN"], tokens_file, SECRET]).decode())
    per = lambda ms: (ms - base) * 1000 / N_TOKENS
    out.append(f"### jwt_verify HS256, {N_TOKENS} distinct Supabase-style tokens (avg {avg_len} bytes)\n")
    out.append("| what | us per call | ratio to native floor |")
    out.append("|---|---:|---:|")
    out.append(f"| native floor (auth_core::jwt::verify in a Rust loop, same tokens) | {floor:.2f} | 1.00x |")
    for name, ms in (("jwt_verify(token, secret) in SQL", verify), ("jwt_is_valid(token, secret)", is_valid),
                     ("jwt_decode(token) (no verification)", decode)):
        out.append(f"| {name} | {per(ms):.2f} | {per(ms) / floor:.2f}x |")
    out.append(f"\nPer-call figures subtract the scan of the same table ({base:.1f} ms for {N_TOKENS} rows). Goal: jwt_verify <= 5 us.\n")

    # 2. RLS, 1M rows
    out.append(f"### RLS count over {N_ROWS:,} rows, policy variants side by side\n")
    out.append("| policy | ms | ratio to literal |")
    out.append("|---|---:|---:|")
    setups = {name: (f"set local role bench_{name}", f"select set_config('request.jwt.claims', '{claims}', true)")
              for name in policies}
    for name, setup in setups.items():  # every policy must find the same rows
        with conn.transaction():
            for s in setup:
                conn.execute(s)
            rows = conn.execute("select count(*) from rls_rows").fetchone()[0]
        assert rows == N_ROWS // 1000, (name, rows)
    fast = {n: ("select count(*) from rls_rows", setups[n]) for n in policies if n != "supabase_sql"}
    results = side_by_side(fast, runs=3 * RUNS)
    results["supabase_sql"] = best("select count(*) from rls_rows", runs=3, setup=setups["supabase_sql"])
    for name, using in policies.items():
        out.append(f"| `{using}` | {results[name]:.1f} | {results[name] / results['literal']:.2f}x |")
    out.append("\nGoal: bare `auth.uid()` <= 1.2x the literal policy.\n")

    # 3. pkce_verify S256
    r = side_by_side({
        "base": ("select count(*) from pkce_pairs where v is not null and c is not null", ()),
        "pkce": ("select count(*) from pkce_pairs where pkce_verify(v, c)", ()),
    })
    base, pk = r["base"], r["pkce"]
    out.append(f"### pkce_verify S256, {N_PKCE:,} distinct verifier/challenge pairs\n")
    out.append("| what | us per call |")
    out.append("|---|---:|")
    out.append(f"| pkce_verify(v, c) | {(pk - base) * 1000 / N_PKCE:.2f} |")
    out.append("\nGoal: <= 1 us per call (the scan of the table, subtracted, took "
               f"{base:.1f} ms).\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
