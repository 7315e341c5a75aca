-- supabase_auth_ext 0.4.0 -> 0.4.1: no behaviour change. The hand-written C functions name
-- the library's own exported symbols (sae_*) instead of pgrx's generated *_wrapper names,
-- and the errors the SQL raises (the flows' refusals, pgjwt's and use_native_helpers'
-- refusals) are made by the library (src/error.rs), the one place every error is made.
\echo Use "ALTER EXTENSION supabase_auth_ext UPDATE TO '0.4.1'" to load this file. \quit

CREATE FUNCTION sae_internal.raise(name text, arg text DEFAULT NULL) RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_raise';

CREATE OR REPLACE FUNCTION pgjwt.sign(payload json, secret text, algorithm text DEFAULT 'HS256') RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sae_pgjwt_sign';

CREATE OR REPLACE FUNCTION pgjwt.verify(token text, secret text, algorithm text DEFAULT 'HS256')
  RETURNS TABLE(header json, payload json, valid boolean)
  LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sae_pgjwt_verify';

CREATE OR REPLACE FUNCTION auth.login(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_login';

CREATE OR REPLACE FUNCTION auth.logout() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_logout';

CREATE OR REPLACE FUNCTION auth.authenticate(apikey text, "authorization" text DEFAULT NULL) RETURNS jsonb
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_auth_authenticate';

CREATE OR REPLACE FUNCTION auth.sign(claims jsonb) RETURNS text LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_auth_sign';

CREATE OR REPLACE FUNCTION auth.issue_api_key(role text, expires_in interval DEFAULT '10 years') RETURNS text
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_auth_issue_api_key';

CREATE OR REPLACE FUNCTION auth.whoami() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_whoami';

CREATE OR REPLACE FUNCTION auth.stats() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_stats';

CREATE OR REPLACE FUNCTION sae_internal.flow_guard() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_guard';

CREATE OR REPLACE FUNCTION sae_internal.flow_secret() RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_secret';

CREATE OR REPLACE FUNCTION sae_internal.flow_hash(secret text) RETURNS bytea LANGUAGE c IMMUTABLE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_hash';

CREATE OR REPLACE FUNCTION sae_internal.flow_seal(secret text, sid text, data text) RETURNS bytea
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_seal';

CREATE OR REPLACE FUNCTION sae_internal.flow_open(secret text, sid text, sealed bytea) RETURNS text
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'sae_flow_open';

CREATE OR REPLACE FUNCTION sae_internal.flow_claims(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_claims';

CREATE OR REPLACE FUNCTION sae_internal.flow_issuer() RETURNS text LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'sae_flow_issuer';

CREATE OR REPLACE FUNCTION sae_internal.flow_own_row(xmin text) RETURNS boolean LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_own_row';

CREATE OR REPLACE FUNCTION sae_internal.flow_claim(code_hash_hex text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_claim';

CREATE OR REPLACE FUNCTION sae_internal.flow_revoke(sid uuid) RETURNS void LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_revoke';

CREATE OR REPLACE FUNCTION sae_internal.flow_pkce(verifier text, challenge text, method text) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'sae_flow_pkce';

CREATE OR REPLACE FUNCTION sae_internal.flow_sign(claims jsonb) RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_sign';

CREATE OR REPLACE FUNCTION sae_internal.flow_raise(what text, reason text, detail text DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_flow_raise';

-- Bodies that now raise through the library:

CREATE OR REPLACE FUNCTION sae_internal.create_pgjwt_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('pgjwt') IS NULL THEN
    CREATE SCHEMA pgjwt;
  ELSIF EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'pgjwt'::regnamespace
                AND proname IN ('sign', 'verify', 'url_encode', 'url_decode')) THEN
    PERFORM sae_internal.raise('pgjwt_installed');  -- 42723
  ELSIF NOT (SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
             WHERE n.nspname = 'pgjwt') THEN
    -- its owner could add overloads that callers' pgjwt.sign('...', '...') would pick
    PERFORM sae_internal.raise('pgjwt_owner');  -- 42501
  END IF;
END $f$;

CREATE OR REPLACE FUNCTION auth.use_native_helpers(native boolean DEFAULT true) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  h record;
  lib text := (SELECT probin FROM pg_proc WHERE oid = 'sae_internal.flow_guard()'::regprocedure);
  done text[] := '{}';
  fn oid;
  owner text;
  caller_role text;
BEGIN
  IF native THEN
    FOR h IN SELECT * FROM sae_internal.native_helpers() LOOP
      fn := to_regprocedure(h.signature);
      CONTINUE WHEN fn IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol);
      IF fn IS NOT NULL THEN
        INSERT INTO sae_internal.sae_replaced_helpers VALUES (h.signature, pg_get_functiondef(fn), fn)
        ON CONFLICT (signature) DO UPDATE SET definition = excluded.definition, fn = excluded.fn;
      END IF;
      EXECUTE format('CREATE OR REPLACE FUNCTION %s AS %L, %L', h.decl, lib, h.symbol);
      IF fn IS NOT NULL THEN
        -- While it is switched, the function depends on its saved definition: DROP
        -- EXTENSION refuses (2BP01) instead of dropping the only copy of Supabase's
        -- helper. Restoring it (CREATE OR REPLACE) removes this dependency.
        INSERT INTO pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype)
        VALUES ('pg_proc'::regclass, fn, 0, 'pg_class'::regclass,
                'sae_internal.sae_replaced_helpers'::regclass, 0, 'n');
      END IF;
      done := done || h.signature;
    END LOOP;
  ELSE
    FOR h IN SELECT r.*, n.symbol FROM sae_internal.sae_replaced_helpers r
             JOIN sae_internal.native_helpers() n USING (signature) ORDER BY signature LOOP
      fn := to_regprocedure(h.signature);
      IF fn IS DISTINCT FROM h.fn OR NOT EXISTS (
          SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol) THEN
        PERFORM sae_internal.raise('helper_changed', h.signature);  -- 55000
      END IF;
      SELECT r.rolname INTO owner FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
      WHERE p.oid = fn;
      caller_role := current_setting('role');
      PERFORM set_config('role', owner, true);
      EXECUTE h.definition;
      PERFORM set_config('role', caller_role, true);
      DELETE FROM sae_internal.sae_replaced_helpers WHERE signature = h.signature;
      done := done || h.signature;
    END LOOP;
  END IF;
  RETURN done;
END $f$;

CREATE OR REPLACE FUNCTION auth.resume(access_token text, refresh_token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c jsonb;
  sid uuid;
  s sae_internal.sae_flow_sessions;
  h bytea;
  now_s bigint := sae_internal.flow_now();
  exp bigint;
BEGIN
  PERFORM sae_internal.flow_guard();
  c := sae_internal.flow_claims(access_token);  -- NULL: expired, so refresh
  IF c IS NOT NULL THEN
    IF jsonb_typeof(c->'session_id') IS DISTINCT FROM 'string'
       OR c->>'session_id' !~ '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$' THEN
      PERFORM sae_internal.flow_raise('JWT', 'missing_claim',
        'the access token has no session_id: it was not issued by these flows');
    END IF;
    sid := (c->>'session_id')::uuid;
    h := sae_internal.flow_presented('refresh token', refresh_token);
    IF NOT EXISTS (SELECT 1 FROM sae_internal.sae_flow_refresh_tokens
                   WHERE token_hash = h AND session_id = sid) THEN
      PERFORM sae_internal.flow_raise('refresh token', 'unknown',
        'the refresh token does not belong to the access token''s session');
    END IF;
    SELECT * INTO s FROM sae_internal.sae_flow_sessions WHERE id = sid;
    exp := (c->>'exp')::numeric;
    IF s.current_hash = h AND NOT sae_internal.flow_revoked(sid)
       AND coalesce(s.not_after > clock_timestamp(), true)
       AND exp - now_s > sae_internal.flow_seconds('auth.resume_margin') THEN
      RETURN sae_internal.flow_object(access_token, exp, refresh_token, sid, s.subject, now_s);
    END IF;
  END IF;
  RETURN sae_internal.flow_refresh(refresh_token);
END $$;

SELECT sae_internal.pin_privileges();
