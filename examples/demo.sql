-- The main job, end to end: a signed token logs in and Row Level Security filters rows.
\set ON_ERROR_STOP on
\pset footer off
\echo '== 1. install the extension, roles as PostgREST/Supabase have them, a table with RLS'
CREATE EXTENSION supabase_auth_ext;
CREATE ROLE anon NOLOGIN;
CREATE ROLE authenticated NOLOGIN;
GRANT USAGE ON SCHEMA auth TO anon, authenticated;
CREATE TABLE todos (id serial PRIMARY KEY, user_id uuid NOT NULL, task text NOT NULL);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_todos ON todos FOR SELECT TO authenticated USING (user_id = auth.uid());
GRANT SELECT ON todos TO anon, authenticated;
\set alice 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
\set bob   'b1ffcd00-0d1c-4fa9-8c7e-7cc0ce491b22'
INSERT INTO todos (user_id, task) VALUES
  (:'alice', 'buy milk'), (:'alice', 'walk the dog'), (:'bob', 'write the report');

\echo '== 2. sign a token for alice with jwt_sign, and check it with jwt_verify'
\set secret 'super-secret-jwt-token-with-at-least-32-characters-long'
SELECT jwt_sign(jsonb_build_object('sub', :'alice', 'role', 'authenticated', 'aud', 'authenticated',
                'exp', extract(epoch FROM now())::int + 3600), :'secret') AS alice_token \gset
SELECT jwt_verify(:'alice_token', :'secret', '{"aud": "authenticated"}') AS alice_claims \gset
SELECT jwt_decode(:'alice_token') -> 'header' AS header, :'alice_claims'::jsonb AS verified_claims;

\echo '== 3. a request as PostgREST makes it: switch role, set the verified claims, query'
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', :'alice_claims', true) IS NOT NULL AS claims_set;
SELECT current_user, auth.uid(), auth.role();
SELECT task FROM todos ORDER BY id;
COMMIT;

\echo '== 4. the same for bob, on the same connection: he sees only his row'
SELECT jwt_verify(jwt_sign(jsonb_build_object('sub', :'bob', 'role', 'authenticated'), :'secret'),
                  :'secret') AS bob_claims \gset
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', :'bob_claims', true) IS NOT NULL AS claims_set;
SELECT current_user, auth.uid(), auth.role();
SELECT task FROM todos ORDER BY id;
COMMIT;

\echo '== 5. no token (anon) sees nothing; a tampered token is refused'
BEGIN;
SET LOCAL ROLE anon;
SELECT current_user, auth.uid() AS uid, count(*) AS rows_visible FROM todos;
COMMIT;
SELECT jwt_is_valid(:'alice_token', :'secret') AS genuine_token_valid,
       jwt_is_valid(regexp_replace(:'alice_token', '\.([^.]*)\.', '.' || encode('{"sub":"attacker"}', 'base64') || '.'), :'secret') AS tampered_token_valid;

\echo '== 6. a PKCE round trip (RFC 7636, S256)'
SELECT pkce_verifier() AS verifier \gset
SELECT pkce_challenge(:'verifier') AS challenge \gset
SELECT length(:'verifier') AS verifier_length, :'challenge' AS challenge,
       pkce_verify(:'verifier', :'challenge') AS right_verifier_accepted,
       pkce_verify(pkce_verifier(), :'challenge') AS wrong_verifier_accepted;
