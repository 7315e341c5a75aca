-- supabase_auth_ext 0.1.0 -> 0.2.0. Run by ALTER EXTENSION supabase_auth_ext UPDATE.
-- Released upgrade scripts are never edited; the next release gets its own script.
-- tests/test_upgrade.py installs 0.1.0, runs this, and compares the catalog with a
-- fresh 0.2.0 install.
\echo Use "ALTER EXTENSION supabase_auth_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Nothing of 0.1.0 changes: its functions (auth.uid/role/email/jwt/sub/claim included)
-- keep their OIDs, so policies and views that use them are untouched. 0.2.0 adds:

-- 1. Schema pgjwt: pgjwt 0.2.0's functions, native (src/api/pgjwt.rs).

DO $$ BEGIN
  IF to_regnamespace('pgjwt') IS NULL THEN
    CREATE SCHEMA pgjwt;
  ELSIF EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'pgjwt'::regnamespace
                AND proname IN ('sign', 'verify', 'url_encode', 'url_decode')) THEN
    RAISE EXCEPTION USING ERRCODE = '42723',
      MESSAGE = 'schema pgjwt already holds pgjwt''s functions (is the pgjwt extension installed there?)',
      HINT = 'supabase_auth_ext provides them natively: DROP EXTENSION pgjwt first.';
  END IF;
END $$;
CREATE FUNCTION pgjwt.url_encode(data bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $f$;
CREATE FUNCTION pgjwt.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT decode(t || repeat('=', (4 - length(t) % 4) % 4), 'base64')
         FROM translate(data, '-_', '+/') t $f$;
CREATE FUNCTION pgjwt.sign(payload json, secret text, algorithm text DEFAULT 'HS256') RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pgjwt_sign_wrapper';
CREATE FUNCTION pgjwt.verify(token text, secret text, algorithm text DEFAULT 'HS256')
  RETURNS TABLE(header json, payload json, valid boolean)
  LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'pgjwt_verify_wrapper';
GRANT USAGE ON SCHEMA pgjwt TO PUBLIC;
COMMENT ON FUNCTION pgjwt.sign(json, text, text) IS 'pgjwt 0.2.0 compatible: the same token byte for byte (native HMAC)';
COMMENT ON FUNCTION pgjwt.verify(text, text, text) IS 'pgjwt 0.2.0 compatible: (header, payload, valid); valid false for a wrong secret, expired or not yet valid';

-- 2. Coexistence with Supabase's SQL helpers (src/api/context.rs). 0.1.0 created the
-- native helpers unconditionally, so a database on 0.1.0 already has ours.
CREATE TABLE auth.sae_replaced_helpers (
  signature text PRIMARY KEY,   -- e.g. auth.uid()
  definition text NOT NULL      -- pg_get_functiondef of the function we replaced
);
REVOKE ALL ON auth.sae_replaced_helpers FROM PUBLIC;
CREATE FUNCTION auth._native_helpers() RETURNS TABLE(signature text, decl text, symbol text, note text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$ VALUES
  ('auth.jwt()', 'auth.jwt() RETURNS jsonb LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_jwt',
   'The request''s JWT claims: request.jwt.claim (legacy) else request.jwt.claims'),
  ('auth.uid()', 'auth.uid() RETURNS uuid LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_uid',
   'The request''s subject as uuid; NULL when absent or not a uuid'),
  ('auth.sub()', 'auth.sub() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_sub',
   'The request''s subject as text'),
  ('auth.role()', 'auth.role() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_role',
   'The request''s role claim'),
  ('auth.email()', 'auth.email() RETURNS text LANGUAGE c STABLE PARALLEL SAFE', 'sae_auth_email',
   'The request''s email claim'),
  ('auth.claim(text)', 'auth.claim(name text) RETURNS jsonb LANGUAGE c STABLE STRICT PARALLEL SAFE',
   'sae_auth_claim', 'One top-level claim of the request, as jsonb')
$f$;
REVOKE EXECUTE ON FUNCTION auth._native_helpers() FROM PUBLIC;

-- Switch helpers that are not ours (Supabase's SQL ones) to ours, in place: CREATE OR
-- REPLACE keeps each function's OID, so policies and views that use it keep working.
-- The replaced definitions are kept, and use_native_helpers(false) restores them.
CREATE FUNCTION auth.use_native_helpers(native boolean DEFAULT true) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  h record;
  lib text := (SELECT probin FROM pg_proc WHERE oid = 'auth.login(text)'::regprocedure);
  done text[] := '{}';
  fn oid;
BEGIN
  IF native THEN
    FOR h IN SELECT * FROM auth._native_helpers() LOOP
      fn := to_regprocedure(h.signature);
      CONTINUE WHEN fn IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol);
      IF fn IS NOT NULL THEN
        INSERT INTO auth.sae_replaced_helpers VALUES (h.signature, pg_get_functiondef(fn))
        ON CONFLICT (signature) DO NOTHING;
      END IF;
      EXECUTE format('CREATE OR REPLACE FUNCTION %s AS %L, %L', h.decl, lib, h.symbol);
      done := done || h.signature;
    END LOOP;
  ELSE
    FOR h IN SELECT * FROM auth.sae_replaced_helpers ORDER BY signature LOOP
      EXECUTE h.definition;
      DELETE FROM auth.sae_replaced_helpers WHERE signature = h.signature;
      done := done || h.signature;
    END LOOP;
  END IF;
  RETURN done;
END $f$;
REVOKE EXECUTE ON FUNCTION auth.use_native_helpers(boolean) FROM PUBLIC;
COMMENT ON FUNCTION auth.use_native_helpers(boolean) IS 'Switch auth.uid/role/email/jwt/sub/claim that are not ours (Supabase''s SQL helpers) to the native ones, in place (true), or back (false)';

-- 3. auth.whoami() and auth.stats() (src/api/debug.rs).
CREATE FUNCTION auth.whoami() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'whoami_wrapper';
CREATE FUNCTION auth.stats() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'stats_wrapper';
COMMENT ON FUNCTION auth.whoami() IS 'The current role, where the request claims came from, and why auth.uid() is NULL when it is';
COMMENT ON FUNCTION auth.stats() IS 'This backend''s counters: verifications by outcome and reason, key cache hits and misses';

-- 4. Database-side flows (src/api/flows.sql).
-- Section 4: database-side flows. Storage is the extension's own, in schema auth under
-- names Supabase Auth does not use (it has users, sessions, refresh_tokens, flow_state),
-- granted to nobody and reached only through the SECURITY DEFINER functions below, each
-- with a fixed search_path. Codes and refresh tokens are stored only as SHA-256 hashes.

CREATE TABLE auth.sae_flow_codes (
  code_hash bytea PRIMARY KEY,
  subject text NOT NULL,
  challenge text NOT NULL,
  method text NOT NULL,
  claims jsonb NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX sae_flow_codes_expires_at ON auth.sae_flow_codes (expires_at);

CREATE TABLE auth.sae_flow_sessions (
  id uuid PRIMARY KEY,
  subject text NOT NULL,
  claims jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  not_after timestamptz,          -- NULL: refreshable until revoked
  revoked_at timestamptz,
  current_hash bytea NOT NULL,    -- the refresh token that rotates next
  previous_hash bytea,            -- the one it replaced
  rotated_at timestamptz NOT NULL,
  sealed bytea                    -- the current session, sealed under the previous token
);
CREATE INDEX sae_flow_sessions_subject ON auth.sae_flow_sessions (subject);
CREATE INDEX sae_flow_sessions_ended ON auth.sae_flow_sessions ((least(revoked_at, not_after)));

CREATE TABLE auth.sae_flow_refresh_tokens (
  token_hash bytea PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES auth.sae_flow_sessions (id) ON DELETE CASCADE,
  issued_at timestamptz NOT NULL
);
CREATE INDEX sae_flow_refresh_tokens_session ON auth.sae_flow_refresh_tokens (session_id);

REVOKE ALL ON auth.sae_flow_codes, auth.sae_flow_sessions, auth.sae_flow_refresh_tokens FROM PUBLIC;
-- Default privileges of schema auth (Supabase grants on new tables there) must not reach
-- any table of ours.
DO $$
DECLARE g record;
BEGIN
  FOR g IN
    SELECT DISTINCT c.oid::regclass::text AS rel, a.grantee::regrole::text AS grantee
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'supabase_auth_ext'
    WHERE a.grantee <> c.relowner AND a.grantee <> 0
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %s', g.rel, g.grantee);
  END LOOP;
END $$;

-- The Rust helpers (src/api/flows.rs), for the functions below only.
CREATE FUNCTION auth._flow_guard() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_guard_wrapper';
CREATE FUNCTION auth._flow_secret() RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_secret_wrapper';
CREATE FUNCTION auth._flow_hash(secret text) RETURNS bytea LANGUAGE c IMMUTABLE STRICT
  AS 'MODULE_PATHNAME', 'flow_hash_wrapper';
CREATE FUNCTION auth._flow_seal(secret text, data text) RETURNS bytea LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'flow_seal_wrapper';
CREATE FUNCTION auth._flow_open(secret text, sealed bytea) RETURNS text LANGUAGE c IMMUTABLE STRICT
  AS 'MODULE_PATHNAME', 'flow_open_wrapper';
CREATE FUNCTION auth._flow_claims(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_claims_wrapper';
CREATE FUNCTION auth._flow_issuer() RETURNS text LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'flow_issuer_wrapper';
CREATE FUNCTION auth._flow_commit(action text, arg text) RETURNS boolean LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'flow_commit_wrapper';
CREATE FUNCTION auth._flow_pkce(verifier text, challenge text, method text) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pkce_verify_wrapper';

-- The helpers below (auth._flow_raise to auth._flow_session) run only inside the SECURITY
-- DEFINER entry points, under their fixed search_path; PUBLIC may not execute them. They
-- carry no SET of their own: that lets the SQL ones be inlined and spares a GUC save and
-- restore per call, about 50 us of a 0.4 ms refresh (pgbench).
CREATE FUNCTION auth._flow_raise(what text, reason text, detail text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  code text := CASE what WHEN 'option' THEN '22023' ELSE '28000' END;
BEGIN
  IF detail IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = format('invalid %s: %s', what, reason);
  END IF;
  RAISE EXCEPTION USING ERRCODE = code, MESSAGE = format('invalid %s: %s', what, reason),
    DETAIL = detail;
END $$;

-- Expired codes, and sessions that ended a day ago (their tokens cascade): a few per call.
-- (The cut-offs are variables: a volatile clock_timestamp() in the condition would rule
-- out the indexes and scan every row.)
CREATE FUNCTION auth._flow_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
  ended_before timestamptz := now_ts - interval '1 day';
BEGIN
  DELETE FROM auth.sae_flow_codes WHERE code_hash IN (
    SELECT code_hash FROM auth.sae_flow_codes WHERE expires_at < now_ts
    ORDER BY expires_at LIMIT 32 FOR UPDATE SKIP LOCKED);
  DELETE FROM auth.sae_flow_sessions WHERE id IN (
    SELECT id FROM auth.sae_flow_sessions WHERE least(revoked_at, not_after) < ended_before
    ORDER BY least(revoked_at, not_after) LIMIT 32 FOR UPDATE SKIP LOCKED);
END $$;

-- The stored hash of a presented code or refresh token; 28000 malformed when it is not one.
CREATE FUNCTION auth._flow_presented(what text, secret text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
  IF secret IS NULL OR secret !~ '^[A-Za-z0-9_-]{43}$' THEN
    PERFORM auth._flow_raise(what, 'malformed', 'it is not 43 base64url characters');
  END IF;
  RETURN auth._flow_hash(secret);
END $$;

CREATE FUNCTION auth._flow_seconds(setting text) RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT extract(epoch FROM current_setting(setting)::interval)::bigint $$;

-- The contract's session object for a pair expiring at `expires_at`, as seen at `now_s`.
CREATE FUNCTION auth._flow_object(access_token text, expires_at bigint, refresh_token text,
                                  sid uuid, subject text, now_s bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('access_token', access_token, 'token_type', 'bearer',
    'expires_in', greatest(0, expires_at - now_s), 'expires_at', expires_at,
    'refresh_token', refresh_token, 'session_id', sid, 'user', jsonb_build_object('id', subject))
$$;

CREATE FUNCTION auth._flow_now() RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT floor(extract(epoch FROM clock_timestamp()))::bigint $$;

-- A session object for `sid` with a new access token (signed as auth.sign signs).
CREATE FUNCTION auth._flow_session(sid uuid, subject text, claims jsonb, refresh_token text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  iat bigint := auth._flow_now();
  exp bigint := iat + auth._flow_seconds('auth.access_token_lifetime');
  aud text := current_setting('auth.jwt_aud');
  iss text := auth._flow_issuer();
  c jsonb := jsonb_build_object('role', 'authenticated') || claims
    || jsonb_build_object('sub', subject, 'session_id', sid, 'iat', iat, 'exp', exp);
BEGIN
  IF aud <> '' THEN c := c || jsonb_build_object('aud', aud); END IF;
  IF iss IS NOT NULL THEN c := c || jsonb_build_object('iss', iss); END IF;
  RETURN auth._flow_object(auth.sign(c), exp, refresh_token, sid, subject, iat);
END $$;

CREATE FUNCTION auth.pkce_begin(subject text, challenge text, method text DEFAULT 'S256',
                                claims jsonb DEFAULT '{}', ttl interval DEFAULT '5 minutes')
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  code text;
  taken text;
BEGIN
  PERFORM auth._flow_guard();
  IF subject IS NULL OR subject = '' THEN
    PERFORM auth._flow_raise('option', 'subject must be a non-empty text');
  END IF;
  IF method IS NULL OR method NOT IN ('S256', 'plain') THEN
    PERFORM auth._flow_raise('option', format('unsupported PKCE method %s (use "S256" or "plain")',
      coalesce(to_jsonb(method)::text, 'NULL')));
  END IF;
  IF method = 'S256' AND (challenge IS NULL OR challenge !~ '^[A-Za-z0-9_-]{43}$') THEN
    PERFORM auth._flow_raise('option', 'an S256 challenge is 43 base64url characters');
  END IF;
  IF method = 'plain' AND (challenge IS NULL OR challenge !~ '^[A-Za-z0-9._~-]{43,128}$') THEN
    PERFORM auth._flow_raise('option', 'a plain challenge is 43 to 128 characters of [A-Za-z0-9-._~]');
  END IF;
  IF claims IS NULL OR jsonb_typeof(claims) <> 'object' THEN
    PERFORM auth._flow_raise('option', 'claims must be a JSON object');
  END IF;
  SELECT string_agg(k, ', ') INTO taken FROM jsonb_object_keys(claims) k
  WHERE k IN ('sub', 'session_id', 'iat', 'exp', 'nbf', 'aud', 'iss');
  IF taken IS NOT NULL THEN
    PERFORM auth._flow_raise('option', format('claims may not set %s (the flow sets them)', taken));
  END IF;
  IF ttl IS NULL OR ttl <= interval '0' THEN
    PERFORM auth._flow_raise('option', 'ttl must be positive');
  END IF;
  PERFORM auth._flow_cleanup();
  code := auth._flow_secret();
  INSERT INTO auth.sae_flow_codes
  VALUES (auth._flow_hash(code), subject, challenge, method, claims, clock_timestamp() + ttl);
  RETURN code;
END $$;

CREATE FUNCTION auth.pkce_exchange(auth_code text, verifier text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h bytea;
  c auth.sae_flow_codes;
  sid uuid := gen_random_uuid();
  rt text := auth._flow_secret();
  rt_hash bytea := auth._flow_hash(rt);
  lifetime bigint := auth._flow_seconds('auth.session_lifetime');
BEGIN
  PERFORM auth._flow_guard();
  h := auth._flow_presented('auth code', auth_code);
  SELECT * INTO c FROM auth.sae_flow_codes WHERE code_hash = h;
  IF NOT FOUND THEN
    PERFORM auth._flow_raise('auth code', 'unknown',
      'no such code: never issued, already used, burnt, or cleaned up after expiry');
  END IF;
  IF c.expires_at <= clock_timestamp() THEN
    PERFORM auth._flow_raise('auth code', 'expired');
  END IF;
  IF verifier IS NULL OR NOT auth._flow_pkce(verifier, c.challenge, c.method) THEN
    PERFORM auth._flow_commit('burn', encode(h, 'hex'));
    PERFORM auth._flow_raise('auth code', 'bad_verifier',
      'the verifier does not answer the challenge; the code is burnt');
  END IF;
  DELETE FROM auth.sae_flow_codes WHERE code_hash = h;
  IF NOT FOUND THEN  -- exchanged (or burnt) by another call meanwhile
    PERFORM auth._flow_raise('auth code', 'unknown', 'the code was used meanwhile');
  END IF;
  INSERT INTO auth.sae_flow_sessions (id, subject, claims, created_at, not_after,
                                      current_hash, rotated_at)
  VALUES (sid, c.subject, c.claims, clock_timestamp(),
          CASE WHEN lifetime > 0 THEN clock_timestamp() + make_interval(secs => lifetime) END,
          rt_hash, clock_timestamp());
  INSERT INTO auth.sae_flow_refresh_tokens VALUES (rt_hash, sid, clock_timestamp());
  RETURN auth._flow_session(sid, c.subject, c.claims, rt);
END $$;

CREATE FUNCTION auth.refresh(refresh_token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h bytea;
  sid uuid;
  s auth.sae_flow_sessions;
  rt text;
  rt_hash bytea;
  out jsonb;
  pair text;
BEGIN
  PERFORM auth._flow_guard();
  h := auth._flow_presented('refresh token', refresh_token);
  SELECT session_id INTO sid FROM auth.sae_flow_refresh_tokens WHERE token_hash = h;
  IF NOT FOUND THEN
    PERFORM auth._flow_raise('refresh token', 'unknown');
  END IF;
  -- Twice at most: a call that loses the rotation race reads the winner's session.
  FOR attempt IN 1..2 LOOP
    SELECT * INTO s FROM auth.sae_flow_sessions WHERE id = sid;
    IF NOT FOUND OR s.revoked_at IS NOT NULL THEN
      PERFORM auth._flow_raise('refresh token', 'session_revoked');
    END IF;
    IF s.not_after <= clock_timestamp() THEN
      PERFORM auth._flow_raise('refresh token', 'session_expired');
    END IF;
    IF s.current_hash = h THEN
      rt := auth._flow_secret();
      rt_hash := auth._flow_hash(rt);
      out := auth._flow_session(sid, s.subject, s.claims, rt);
      UPDATE auth.sae_flow_sessions
      SET current_hash = rt_hash, previous_hash = h, rotated_at = clock_timestamp(),
          sealed = auth._flow_seal(refresh_token, out::text)
      WHERE id = sid AND current_hash = h AND revoked_at IS NULL;
      IF FOUND THEN
        INSERT INTO auth.sae_flow_refresh_tokens VALUES (rt_hash, sid, clock_timestamp());
        RETURN out;
      END IF;
      CONTINUE;
    END IF;
    IF s.previous_hash = h AND clock_timestamp()
        < s.rotated_at + make_interval(secs => auth._flow_seconds('auth.refresh_reuse_interval')) THEN
      pair := auth._flow_open(refresh_token, s.sealed);
      IF pair IS NOT NULL THEN
        out := pair::jsonb;
        RETURN auth._flow_object(out->>'access_token', (out->>'expires_at')::bigint,
          out->>'refresh_token', sid, s.subject, auth._flow_now());
      END IF;
    END IF;
    PERFORM auth._flow_commit('revoke', sid::text);
    PERFORM auth._flow_raise('refresh token', 'reused',
      'the token was already rotated; its session is revoked');
  END LOOP;
  PERFORM auth._flow_raise('refresh token', 'unknown', 'the session changed during the refresh');
END $$;

CREATE FUNCTION auth.resume(access_token text, refresh_token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c jsonb;
  sid uuid;
  s auth.sae_flow_sessions;
  h bytea;
  now_s bigint := auth._flow_now();
  exp bigint;
BEGIN
  PERFORM auth._flow_guard();
  c := auth._flow_claims(access_token);  -- NULL: expired, so refresh
  IF c IS NOT NULL THEN
    IF jsonb_typeof(c->'session_id') IS DISTINCT FROM 'string'
       OR c->>'session_id' !~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' THEN
      RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid JWT: missing_claim',
        DETAIL = 'the access token has no session_id: it was not issued by these flows';
    END IF;
    sid := (c->>'session_id')::uuid;
    h := auth._flow_presented('refresh token', refresh_token);
    IF NOT EXISTS (SELECT 1 FROM auth.sae_flow_refresh_tokens
                   WHERE token_hash = h AND session_id = sid) THEN
      PERFORM auth._flow_raise('refresh token', 'unknown',
        'the refresh token does not belong to the access token''s session');
    END IF;
    SELECT * INTO s FROM auth.sae_flow_sessions WHERE id = sid;
    exp := (c->>'exp')::numeric;
    IF s.current_hash = h AND s.revoked_at IS NULL AND coalesce(s.not_after > clock_timestamp(), true)
       AND exp - now_s > auth._flow_seconds('auth.resume_margin') THEN
      RETURN auth._flow_object(access_token, exp, refresh_token, sid, s.subject, now_s);
    END IF;
  END IF;
  RETURN auth.refresh(refresh_token);
END $$;

CREATE FUNCTION auth.revoke_session(session_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM auth._flow_guard();
  UPDATE auth.sae_flow_sessions SET revoked_at = clock_timestamp()
  WHERE id = revoke_session.session_id AND revoked_at IS NULL;
END $$;

CREATE FUNCTION auth.revoke_all(subject text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n integer;
BEGIN
  PERFORM auth._flow_guard();
  UPDATE auth.sae_flow_sessions s SET revoked_at = clock_timestamp()
  WHERE s.subject = revoke_all.subject AND s.revoked_at IS NULL
    AND NOT coalesce(s.not_after <= clock_timestamp(), false);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

REVOKE EXECUTE ON FUNCTION auth._flow_guard(), auth._flow_secret(), auth._flow_hash(text),
  auth._flow_seal(text, text), auth._flow_open(text, bytea), auth._flow_claims(text),
  auth._flow_issuer(), auth._flow_commit(text, text), auth._flow_pkce(text, text, text),
  auth._flow_raise(text, text, text), auth._flow_presented(text, text), auth._flow_cleanup(), auth._flow_seconds(text),
  auth._flow_session(uuid, text, jsonb, text),
  auth._flow_object(text, bigint, text, uuid, text, bigint), auth._flow_now() FROM PUBLIC;
-- Issuing codes and revoking are the application's privileged steps; exchanging a code and
-- refreshing need the secrets themselves, so any role may call them.
REVOKE EXECUTE ON FUNCTION auth.pkce_begin(text, text, text, jsonb, interval),
  auth.revoke_session(uuid), auth.revoke_all(text) FROM PUBLIC;

COMMENT ON FUNCTION auth.pkce_begin(text, text, text, jsonb, interval) IS 'Issue a single-use auth code for subject, bound to a PKCE challenge (privileged)';
COMMENT ON FUNCTION auth.pkce_exchange(text, text) IS 'Exchange an auth code and its PKCE verifier for a session (access and refresh token)';
COMMENT ON FUNCTION auth.refresh(text) IS 'Rotate a refresh token: a new session pair; reuse of an old token revokes the session';
COMMENT ON FUNCTION auth.resume(text, text) IS 'The pair as is while the access token is valid beyond auth.resume_margin, else refreshed';
COMMENT ON FUNCTION auth.revoke_session(uuid) IS 'End one flow session: its refresh tokens stop working (privileged)';
COMMENT ON FUNCTION auth.revoke_all(text) IS 'End every live flow session of a subject; returns how many (privileged)';
