-- The main job, end to end: a signed token logs in and Row Level Security filters rows.
\set ON_ERROR_STOP on
\pset footer off
\echo '== 1. install the extension, roles as PostgREST/Supabase have them, a table with RLS'
CREATE EXTENSION supabase_auth_ext;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
CREATE ROLE authenticator LOGIN NOINHERIT;       -- what PostgREST connects as: not a superuser
GRANT anon, authenticated TO authenticator;
CREATE TABLE todos (id serial PRIMARY KEY, user_id uuid NOT NULL, task text NOT NULL);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_todos ON todos FOR SELECT TO authenticated USING (user_id = auth.uid());
GRANT SELECT ON todos TO anon, authenticated;
\set alice 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
\set bob   'b1ffcd00-0d1c-4fa9-8c7e-7cc0ce491b22'
INSERT INTO todos (user_id, task) VALUES
  (:'alice', 'buy milk'), (:'alice', 'walk the dog'), (:'bob', 'write the report');

\echo '== 2. configure the key the safe way: ALTER SYSTEM, and the library loaded per session'
\set secret 'super-secret-jwt-token-with-at-least-32-characters-long'
LOAD 'supabase_auth_ext';
ALTER SYSTEM SET auth.jwt_secret = :'secret';
ALTER SYSTEM SET session_preload_libraries = 'supabase_auth_ext';
SELECT pg_reload_conf();
-- a new session: the library loads at its start, before any statement
\c

\echo '== 3. tokens: alice and bob (auth.sign adds iat and exp), and an anon API key'
SELECT auth.sign(jsonb_build_object('sub', :'alice', 'role', 'authenticated', 'aud', 'authenticated')) AS alice_token \gset
SELECT auth.sign(jsonb_build_object('sub', :'bob', 'role', 'authenticated', 'aud', 'authenticated')) AS bob_token \gset
SELECT auth.issue_api_key('anon') AS anon_key \gset
SELECT jwt_decode(:'alice_token') -> 'payload' AS alice_claims, jwt_verify(:'anon_key', :'secret') AS anon_key_claims;

\echo '== 4. connect as the authenticator; a request as PostgREST makes it, in one call'
\c - authenticator
BEGIN;
SELECT auth.authenticate(:'anon_key', 'Bearer ' || :'alice_token') ->> 'sub' AS logged_in_as;
SELECT current_user, auth.uid(), auth.role();
SELECT task FROM todos ORDER BY id;
COMMIT;

\echo '== 5. the next request on the same connection is bob: he sees only his row'
BEGIN;
SELECT auth.authenticate(:'anon_key', 'Bearer ' || :'bob_token') ->> 'sub' AS logged_in_as;
SELECT current_user, auth.uid(), auth.role();
SELECT task FROM todos ORDER BY id;
COMMIT;

\echo '== 6. no token (anon) sees nothing; a tampered token is refused; the secret stays hidden'
BEGIN;
SELECT auth.authenticate(:'anon_key') ->> 'role' AS role;
SELECT current_user, auth.uid() AS uid, count(*) AS rows_visible FROM todos;
COMMIT;
SELECT current_user AS back_to, jwt_is_valid(:'alice_token', :'secret') AS genuine_token_valid,
       jwt_is_valid(regexp_replace(:'alice_token', '\.([^.]*)\.', '.' || encode('{"sub":"attacker"}', 'base64') || '.'), :'secret') AS tampered_token_valid,
       (SELECT count(*) FROM pg_settings WHERE name = 'auth.jwt_secret') AS secret_rows_in_pg_settings;

\echo '== 7. a PKCE round trip (RFC 7636, S256)'
SELECT pkce_verifier() AS verifier \gset
SELECT pkce_challenge(:'verifier') AS challenge \gset
SELECT length(:'verifier') AS verifier_length, :'challenge' AS challenge,
       pkce_verify(:'verifier', :'challenge') AS right_verifier_accepted,
       pkce_verify(pkce_verifier(), :'challenge') AS wrong_verifier_accepted;

\echo '== 8. a public client logs in with no auth server: PKCE code exchange, then refresh'
\c - postgres
-- the app's privileged step, after it checked alice's password: a code bound to the challenge
SELECT auth.pkce_begin(:'alice', :'challenge') AS code \gset
\c - authenticator
SELECT auth.pkce_exchange(:'code', :'verifier') AS session \gset
SELECT (:'session'::jsonb) - 'access_token' - 'refresh_token' AS session_without_tokens;
BEGIN;
SELECT auth.login(:'session'::jsonb ->> 'access_token') ->> 'sub' AS logged_in_as;
SELECT current_user, auth.uid(), count(*) AS rows_visible FROM todos;
COMMIT;
SELECT auth.refresh(:'session'::jsonb ->> 'refresh_token') AS refreshed \gset
SELECT :'refreshed'::jsonb ->> 'refresh_token' <> :'session'::jsonb ->> 'refresh_token' AS refresh_token_rotated,
       (:'refreshed'::jsonb ->> 'session_id') = (:'session'::jsonb ->> 'session_id') AS same_session;
\echo 'the code is single use (expect ERROR: invalid auth code: unknown):'
\set ON_ERROR_STOP off
SELECT auth.pkce_exchange(:'code', :'verifier');
