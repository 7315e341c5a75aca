-- supabase_auth_ext 0.2.0 -> 0.3.0: the security release (issue 12).
-- * schema sae_internal: the flows' storage and private helpers, the saved Supabase helpers
--   and the install-time logic move there from schema auth (whose owner, on Supabase
--   another role, could add overloads, drop indexes, or rename the schema and plant a
--   table under the old name), each function with search_path pinned;
-- * the flows: a code is claimed before its verifier is judged; revocations are an
--   insert-only record (sae_internal.sae_flow_revocations) instead of sessions.revoked_at;
--   the autonomous worker runs as the extension's owner with every name qualified; seals
--   bound to the server's key and the session, cleared after the reuse interval; old
--   refresh-token hashes pruned; READ COMMITTED only;
-- * auth.use_native_helpers restores as the function's owner, or refuses;
-- * every function, table and schema gets exactly its documented privileges
--   (sae_internal.pin_privileges), whatever default privileges exist.
-- SECURITY: like the install script, this runs no logic of its own outside functions that
-- pin search_path.

-- Fails when the schema exists: nobody can plant objects in it beforehand.
CREATE SCHEMA sae_internal;
REVOKE ALL ON SCHEMA sae_internal FROM PUBLIC;
COMMENT ON SCHEMA sae_internal IS 'supabase_auth_ext internals: executable by its owner alone';

-- Every function, table and schema of the extension gets exactly its documented privileges:
-- what CREATE EXTENSION or an earlier release granted (default privileges included) and the
-- list below does not allow is revoked; grants made by hand after installing are kept.
-- A function is executable by PUBLIC unless it is in sae_internal or listed here (by name
-- and argument types, not by schema: a schema auth owned by another role may be renamed).
CREATE FUNCTION sae_internal.owner_only() RETURNS text[] LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $f$
  SELECT ARRAY['sign(jsonb)', 'issue_api_key(text, interval)', 'use_native_helpers(boolean)',
    'pkce_begin(text, text, text, jsonb, interval)', 'revoke_session(uuid)', 'revoke_all(text)']
$f$;

CREATE FUNCTION sae_internal.pin_privileges() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  o record;
  g record;
BEGIN
  FOR o IN
    SELECT d.classid, d.objid, c.relkind,
      CASE d.classid
        WHEN 'pg_proc'::regclass THEN 'FUNCTION ' || d.objid::regprocedure::text
        WHEN 'pg_class'::regclass THEN 'TABLE ' || d.objid::regclass::text
        ELSE 'SCHEMA ' || quote_ident(n.nspname) END AS what,
      CASE d.classid
        WHEN 'pg_proc'::regclass THEN
          CASE WHEN p.pronamespace = 'sae_internal'::regnamespace
                 OR p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
                    = ANY (sae_internal.owner_only()) THEN NULL
               ELSE 'EXECUTE' END
        WHEN 'pg_namespace'::regclass THEN
          CASE WHEN n.nspname IN ('auth', 'pgjwt') THEN 'USAGE' END
      END AS public_privilege,
      coalesce(p.proowner, c.relowner, n.nspowner) AS owner,
      coalesce(ip.initprivs, p.proacl, c.relacl, n.nspacl,
        acldefault(CASE d.classid WHEN 'pg_proc'::regclass THEN 'f'::"char"
                                  WHEN 'pg_class'::regclass THEN 'r'::"char" ELSE 'n'::"char" END,
                   coalesce(p.proowner, c.relowner, n.nspowner))) AS acl
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'supabase_auth_ext'
    LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
    LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
    LEFT JOIN pg_namespace n ON d.classid = 'pg_namespace'::regclass AND n.oid = d.objid
    LEFT JOIN pg_init_privs ip ON ip.classoid = d.classid AND ip.objoid = d.objid
      AND ip.objsubid = 0
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
      AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass)
      AND (c.oid IS NULL OR c.relkind IN ('r', 'p', 'v', 'm', 'S'))
  LOOP
    -- o.acl is what the object had when installed (pg_init_privs; else its ACL or the
    -- default): revoke what it granted beyond the list; later grants by hand stay.
    FOR g IN SELECT a.grantee, array_agg(DISTINCT a.privilege_type) = ARRAY[o.public_privilege]
                    AND a.grantee = 0 AS as_documented
             FROM aclexplode(o.acl) a WHERE a.grantee <> o.owner GROUP BY a.grantee
    LOOP
      CONTINUE WHEN g.as_documented;
      EXECUTE format('REVOKE ALL ON %s FROM %s', o.what,
        CASE g.grantee WHEN 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END);
    END LOOP;
    IF o.public_privilege IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM aclexplode(o.acl) a WHERE a.grantee = 0
        GROUP BY a.grantee HAVING array_agg(DISTINCT a.privilege_type) = ARRAY[o.public_privilege]) THEN
      EXECUTE format('GRANT %s ON %s TO PUBLIC', o.public_privilege, o.what);
    ELSIF o.public_privilege IS NULL THEN  -- an explicit ACL: the same after any upgrade path
      EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o.what);
    END IF;
  END LOOP;
END $f$;

CREATE FUNCTION sae_internal.create_auth_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('auth') IS NULL THEN
    CREATE SCHEMA auth;
  END IF;
END $f$;

CREATE FUNCTION sae_internal.create_pgjwt_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('pgjwt') IS NULL THEN
    CREATE SCHEMA pgjwt;
  ELSIF EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'pgjwt'::regnamespace
                AND proname IN ('sign', 'verify', 'url_encode', 'url_decode')) THEN
    RAISE EXCEPTION USING ERRCODE = '42723',
      MESSAGE = 'schema pgjwt already holds pgjwt''s functions (is the pgjwt extension installed there?)',
      HINT = 'supabase_auth_ext provides them natively: DROP EXTENSION pgjwt first.';
  ELSIF NOT (SELECT r.rolsuper FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
             WHERE n.nspname = 'pgjwt') THEN
    -- its owner could add overloads that callers' pgjwt.sign('...', '...') would pick
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = 'schema pgjwt exists and belongs to a role that is not a superuser',
      HINT = 'Drop it, or make a superuser its owner, before CREATE EXTENSION supabase_auth_ext.';
  END IF;
END $f$;

-- The saved Supabase helpers and the list of ours.
ALTER TABLE auth.sae_replaced_helpers SET SCHEMA sae_internal;
ALTER TABLE sae_internal.sae_replaced_helpers ADD COLUMN fn oid;
UPDATE sae_internal.sae_replaced_helpers SET fn = coalesce(to_regprocedure(signature)::oid, 0);
ALTER TABLE sae_internal.sae_replaced_helpers ALTER COLUMN fn SET NOT NULL;
CREATE FUNCTION sae_internal.native_helpers() RETURNS TABLE(signature text, decl text, symbol text, note text)
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
CREATE FUNCTION sae_internal.install_helpers() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE h record;
BEGIN
  FOR h IN SELECT * FROM sae_internal.native_helpers() LOOP
    IF to_regprocedure(h.signature) IS NULL THEN
      EXECUTE format('CREATE FUNCTION %s AS %L, %L', h.decl, 'MODULE_PATHNAME', h.symbol);
      EXECUTE format('COMMENT ON FUNCTION %s IS %L', h.signature, h.note);
    ELSE
      RAISE WARNING '% already exists (Supabase Auth''s?): left as it is', h.signature
        USING HINT = 'SELECT auth.use_native_helpers() switches it to supabase_auth_ext''s.';
    END IF;
  END LOOP;
END $f$;
DROP FUNCTION auth._native_helpers();
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
      done := done || h.signature;
    END LOOP;
  ELSE
    FOR h IN SELECT r.*, n.symbol FROM sae_internal.sae_replaced_helpers r
             JOIN sae_internal.native_helpers() n USING (signature) ORDER BY signature LOOP
      fn := to_regprocedure(h.signature);
      IF fn IS DISTINCT FROM h.fn OR NOT EXISTS (
          SELECT 1 FROM pg_proc WHERE oid = fn AND probin = lib AND prosrc = h.symbol) THEN
        RAISE EXCEPTION USING ERRCODE = '55000',
          MESSAGE = format('%s was dropped or changed since use_native_helpers() replaced it', h.signature),
          DETAIL = 'The saved definition is not restored over a function someone else made.',
          HINT = format('Recreate it by hand, then: DELETE FROM sae_internal.sae_replaced_helpers WHERE signature = %L', h.signature);
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

-- The flows' storage.
ALTER TABLE auth.sae_flow_codes SET SCHEMA sae_internal;
ALTER TABLE auth.sae_flow_sessions SET SCHEMA sae_internal;
ALTER TABLE auth.sae_flow_refresh_tokens SET SCHEMA sae_internal;
CREATE TABLE sae_internal.sae_flow_revocations (
  session_id uuid NOT NULL,
  revoked_at timestamptz NOT NULL
);
CREATE INDEX sae_flow_revocations_session ON sae_internal.sae_flow_revocations (session_id);
CREATE INDEX sae_flow_revocations_revoked_at ON sae_internal.sae_flow_revocations (revoked_at);

INSERT INTO sae_internal.sae_flow_revocations
  SELECT id, revoked_at FROM sae_internal.sae_flow_sessions WHERE revoked_at IS NOT NULL;
DROP INDEX sae_internal.sae_flow_sessions_ended;
ALTER TABLE sae_internal.sae_flow_sessions DROP COLUMN revoked_at;
-- 0.2.0's seals were keyed on the previous token alone: dropped (within the next 10 s a
-- retried refresh of the previous token then counts as reuse).
UPDATE sae_internal.sae_flow_sessions SET sealed = NULL WHERE sealed IS NOT NULL;
CREATE INDEX sae_flow_sessions_not_after ON sae_internal.sae_flow_sessions (not_after);
CREATE INDEX sae_flow_sessions_sealed ON sae_internal.sae_flow_sessions (rotated_at) WHERE sealed IS NOT NULL;
DROP INDEX sae_internal.sae_flow_refresh_tokens_session;
CREATE INDEX sae_flow_refresh_tokens_session ON sae_internal.sae_flow_refresh_tokens (session_id, issued_at);

-- The entry points first (they no longer call the old helpers), then the old helpers go.
-- The Rust helpers (src/api/flows.rs), for the functions below only.
CREATE FUNCTION sae_internal.flow_guard() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_guard_wrapper';
CREATE FUNCTION sae_internal.flow_secret() RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_secret_wrapper';
CREATE FUNCTION sae_internal.flow_hash(secret text) RETURNS bytea LANGUAGE c IMMUTABLE STRICT
  AS 'MODULE_PATHNAME', 'flow_hash_wrapper';
CREATE FUNCTION sae_internal.flow_seal(secret text, sid text, data text) RETURNS bytea
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'flow_seal_wrapper';
CREATE FUNCTION sae_internal.flow_open(secret text, sid text, sealed bytea) RETURNS text
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'flow_open_wrapper';
CREATE FUNCTION sae_internal.flow_claims(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'flow_claims_wrapper';
CREATE FUNCTION sae_internal.flow_issuer() RETURNS text LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'flow_issuer_wrapper';
CREATE FUNCTION sae_internal.flow_own_row(xmin text) RETURNS boolean LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'flow_own_row_wrapper';
CREATE FUNCTION sae_internal.flow_claim(code_hash_hex text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'flow_claim_wrapper';
CREATE FUNCTION sae_internal.flow_revoke(sid uuid) RETURNS void LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'flow_revoke_wrapper';
CREATE FUNCTION sae_internal.flow_pkce(verifier text, challenge text, method text) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'pkce_verify_wrapper';
CREATE FUNCTION sae_internal.flow_sign(claims jsonb) RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sign_wrapper';

-- The helpers below run only inside the SECURITY DEFINER entry points, under their fixed
-- search_path; nobody but the owner may execute them. They carry no SET of their own: that
-- lets the SQL ones be inlined and spares a GUC save and restore per call.
CREATE FUNCTION sae_internal.flow_raise(what text, reason text, detail text DEFAULT NULL)
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

CREATE FUNCTION sae_internal.flow_seconds(setting text) RETURNS bigint LANGUAGE sql STABLE
AS $$ SELECT extract(epoch FROM current_setting(setting)::interval)::bigint $$;

-- Bounded housekeeping, a few rows per call: expired codes; sessions that ended a day ago
-- (their tokens cascade) with their revocation records; seals past the reuse interval.
-- (The cut-offs are variables: a volatile clock_timestamp() in the condition would rule
-- out the indexes and scan every row.)
CREATE FUNCTION sae_internal.flow_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
  ended_before timestamptz := now_ts - interval '1 day';
  sealed_before timestamptz := now_ts
    - make_interval(secs => sae_internal.flow_seconds('auth.refresh_reuse_interval'));
  gone uuid[];
BEGIN
  DELETE FROM sae_internal.sae_flow_codes WHERE code_hash IN (
    SELECT code_hash FROM sae_internal.sae_flow_codes WHERE expires_at < now_ts
    ORDER BY expires_at LIMIT 32 FOR UPDATE SKIP LOCKED);
  DELETE FROM sae_internal.sae_flow_sessions WHERE id IN (
    SELECT id FROM sae_internal.sae_flow_sessions WHERE not_after < ended_before
    ORDER BY not_after LIMIT 32 FOR UPDATE SKIP LOCKED);
  SELECT array_agg(session_id) INTO gone FROM (
    SELECT session_id FROM sae_internal.sae_flow_revocations WHERE revoked_at < ended_before
    ORDER BY revoked_at LIMIT 32) r;
  IF gone IS NOT NULL THEN
    DELETE FROM sae_internal.sae_flow_sessions WHERE id IN (
      SELECT id FROM sae_internal.sae_flow_sessions WHERE id = ANY (gone) FOR UPDATE SKIP LOCKED);
    DELETE FROM sae_internal.sae_flow_revocations r WHERE r.session_id = ANY (gone)
      AND NOT EXISTS (SELECT 1 FROM sae_internal.sae_flow_sessions s WHERE s.id = r.session_id);
  END IF;
  UPDATE sae_internal.sae_flow_sessions SET sealed = NULL WHERE id IN (
    SELECT id FROM sae_internal.sae_flow_sessions WHERE sealed IS NOT NULL AND rotated_at < sealed_before
    ORDER BY rotated_at LIMIT 32 FOR UPDATE SKIP LOCKED);
END $$;

-- The stored hash of a presented code or refresh token; 28000 malformed when it is not one.
CREATE FUNCTION sae_internal.flow_presented(what text, secret text) RETURNS bytea
LANGUAGE plpgsql AS $$
BEGIN
  IF secret IS NULL OR secret !~ '^[A-Za-z0-9_-]{43}$' THEN
    PERFORM sae_internal.flow_raise(what, 'malformed', 'it is not 43 base64url characters');
  END IF;
  RETURN sae_internal.flow_hash(secret);
END $$;

CREATE FUNCTION sae_internal.flow_revoked(sid uuid) RETURNS boolean LANGUAGE sql STABLE
AS $$ SELECT EXISTS (SELECT 1 FROM sae_internal.sae_flow_revocations WHERE session_id = sid) $$;

-- The contract's session object for a pair expiring at `expires_at`, as seen at `now_s`.
CREATE FUNCTION sae_internal.flow_object(access_token text, expires_at bigint,
                                         refresh_token text, sid uuid, subject text, now_s bigint)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('access_token', access_token, 'token_type', 'bearer',
    'expires_in', greatest(0, expires_at - now_s), 'expires_at', expires_at,
    'refresh_token', refresh_token, 'session_id', sid, 'user', jsonb_build_object('id', subject))
$$;

CREATE FUNCTION sae_internal.flow_now() RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT floor(extract(epoch FROM clock_timestamp()))::bigint $$;

-- A session object for `sid` with a new access token (signed as auth.sign signs).
CREATE FUNCTION sae_internal.flow_session(sid uuid, subject text, claims jsonb,
                                          refresh_token text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  iat bigint := sae_internal.flow_now();
  exp bigint := iat + sae_internal.flow_seconds('auth.access_token_lifetime');
  aud text := current_setting('auth.jwt_aud');
  iss text := sae_internal.flow_issuer();
  c jsonb := jsonb_build_object('role', 'authenticated') || claims
    || jsonb_build_object('sub', subject, 'session_id', sid, 'iat', iat, 'exp', exp);
BEGIN
  IF aud <> '' THEN c := c || jsonb_build_object('aud', aud); END IF;
  IF iss IS NOT NULL THEN c := c || jsonb_build_object('iss', iss); END IF;
  RETURN sae_internal.flow_object(sae_internal.flow_sign(c), exp, refresh_token, sid, subject, iat);
END $$;

CREATE OR REPLACE FUNCTION auth.pkce_begin(subject text, challenge text, method text DEFAULT 'S256',
                                claims jsonb DEFAULT '{}', ttl interval DEFAULT '5 minutes')
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  code text;
  taken text;
BEGIN
  PERFORM sae_internal.flow_guard();
  IF subject IS NULL OR subject = '' THEN
    PERFORM sae_internal.flow_raise('option', 'subject must be a non-empty text');
  END IF;
  -- any letter case, as Supabase Auth (supabase-js sends s256); stored as RFC 7636 spells it
  method := CASE lower(method) WHEN 's256' THEN 'S256' WHEN 'plain' THEN 'plain' ELSE method END;
  IF method IS NULL OR method NOT IN ('S256', 'plain') THEN
    PERFORM sae_internal.flow_raise('option', format('unsupported PKCE method %s (use "S256" or "plain")',
      coalesce(to_jsonb(method)::text, 'NULL')));
  END IF;
  IF method = 'S256' AND (challenge IS NULL OR challenge !~ '^[A-Za-z0-9_-]{43}$') THEN
    PERFORM sae_internal.flow_raise('option', 'an S256 challenge is 43 base64url characters');
  END IF;
  IF method = 'plain' AND (challenge IS NULL OR challenge !~ '^[A-Za-z0-9._~-]{43,128}$') THEN
    PERFORM sae_internal.flow_raise('option', 'a plain challenge is 43 to 128 characters of [A-Za-z0-9-._~]');
  END IF;
  IF claims IS NULL OR jsonb_typeof(claims) <> 'object' THEN
    PERFORM sae_internal.flow_raise('option', 'claims must be a JSON object');
  END IF;
  SELECT string_agg(k, ', ') INTO taken FROM jsonb_object_keys(claims) k
  WHERE k IN ('sub', 'session_id', 'iat', 'exp', 'nbf', 'aud', 'iss');
  IF taken IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('option', format('claims may not set %s (the flow sets them)', taken));
  END IF;
  IF ttl IS NULL OR ttl <= interval '0' THEN
    PERFORM sae_internal.flow_raise('option', 'ttl must be positive');
  END IF;
  PERFORM sae_internal.flow_cleanup();
  code := sae_internal.flow_secret();
  INSERT INTO sae_internal.sae_flow_codes
  VALUES (sae_internal.flow_hash(code), subject, challenge, method, claims, clock_timestamp() + ttl);
  RETURN code;
END $$;

-- The code is claimed (removed, in a transaction of its own) before the verifier is judged:
-- every presented verifier costs the code, and of concurrent callers exactly one is judged.
CREATE OR REPLACE FUNCTION auth.pkce_exchange(auth_code text, verifier text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h bytea;
  c record;  -- the code's row, and whether this transaction inserted it
  sid uuid := gen_random_uuid();
  rt text := sae_internal.flow_secret();
  rt_hash bytea := sae_internal.flow_hash(rt);
  lifetime bigint := sae_internal.flow_seconds('auth.session_lifetime');
BEGIN
  PERFORM sae_internal.flow_guard();
  h := sae_internal.flow_presented('auth code', auth_code);
  SELECT x.*, sae_internal.flow_own_row(x.xmin::text) AS own INTO c
  FROM sae_internal.sae_flow_codes x WHERE code_hash = h;
  IF NOT FOUND THEN
    PERFORM sae_internal.flow_raise('auth code', 'unknown',
      'no such code: never issued, already used, burnt, or cleaned up after expiry');
  END IF;
  IF c.expires_at <= clock_timestamp() THEN
    PERFORM sae_internal.flow_raise('auth code', 'expired');
  END IF;
  IF c.own THEN  -- issued in this very transaction: a rollback removes it anyway
    DELETE FROM sae_internal.sae_flow_codes WHERE code_hash = h;
  ELSIF NOT sae_internal.flow_claim(encode(h, 'hex')) THEN
    PERFORM sae_internal.flow_raise('auth code', 'unknown', 'the code was used meanwhile');
  END IF;
  IF verifier IS NULL OR NOT sae_internal.flow_pkce(verifier, c.challenge, c.method) THEN
    PERFORM sae_internal.flow_raise('auth code', 'bad_verifier',
      'the verifier does not answer the challenge; the code is burnt');
  END IF;
  INSERT INTO sae_internal.sae_flow_sessions (id, subject, claims, created_at, not_after,
                                      current_hash, rotated_at)
  VALUES (sid, c.subject, c.claims, clock_timestamp(),
          CASE WHEN lifetime > 0 THEN clock_timestamp() + make_interval(secs => lifetime) END,
          rt_hash, clock_timestamp());
  INSERT INTO sae_internal.sae_flow_refresh_tokens VALUES (rt_hash, sid, clock_timestamp());
  RETURN sae_internal.flow_session(sid, c.subject, c.claims, rt);
END $$;

-- The body of auth.refresh, which auth.resume calls too (within their SECURITY DEFINER context).
CREATE FUNCTION sae_internal.flow_refresh(refresh_token text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  h bytea;
  sid uuid;
  s sae_internal.sae_flow_sessions;
  rt text;
  rt_hash bytea;
  out jsonb;
  pair text;
BEGIN
  PERFORM sae_internal.flow_guard();
  h := sae_internal.flow_presented('refresh token', refresh_token);
  SELECT session_id INTO sid FROM sae_internal.sae_flow_refresh_tokens WHERE token_hash = h;
  IF NOT FOUND THEN
    PERFORM sae_internal.flow_raise('refresh token', 'unknown');
  END IF;
  -- Twice at most: a call that loses the rotation race reads the winner's session.
  FOR attempt IN 1..2 LOOP
    SELECT * INTO s FROM sae_internal.sae_flow_sessions WHERE id = sid;
    IF NOT FOUND OR sae_internal.flow_revoked(sid) THEN
      PERFORM sae_internal.flow_raise('refresh token', 'session_revoked');
    END IF;
    IF s.not_after <= clock_timestamp() THEN
      PERFORM sae_internal.flow_raise('refresh token', 'session_expired');
    END IF;
    IF s.current_hash = h THEN
      rt := sae_internal.flow_secret();
      rt_hash := sae_internal.flow_hash(rt);
      out := sae_internal.flow_session(sid, s.subject, s.claims, rt);
      UPDATE sae_internal.sae_flow_sessions
      SET current_hash = rt_hash, previous_hash = h, rotated_at = clock_timestamp(),
          sealed = sae_internal.flow_seal(refresh_token, sid::text, out::text)
      WHERE id = sid AND current_hash = h;
      IF FOUND THEN
        INSERT INTO sae_internal.sae_flow_refresh_tokens VALUES (rt_hash, sid, clock_timestamp());
        -- Keep the hashes of the session's last 64 tokens: reuse of any of them revokes
        -- the session; an older one is unknown (it grants nothing either way).
        DELETE FROM sae_internal.sae_flow_refresh_tokens WHERE token_hash IN (
          SELECT token_hash FROM sae_internal.sae_flow_refresh_tokens WHERE session_id = sid
          ORDER BY issued_at DESC OFFSET 64 LIMIT 8);
        RETURN out;
      END IF;
      CONTINUE;
    END IF;
    IF s.previous_hash = h AND s.sealed IS NOT NULL AND clock_timestamp()
        < s.rotated_at + make_interval(secs => sae_internal.flow_seconds('auth.refresh_reuse_interval')) THEN
      pair := sae_internal.flow_open(refresh_token, sid::text, s.sealed);
      IF pair IS NOT NULL THEN
        out := pair::jsonb;
        RETURN sae_internal.flow_object(out->>'access_token', (out->>'expires_at')::bigint,
          out->>'refresh_token', sid, s.subject, sae_internal.flow_now());
      END IF;
    END IF;
    -- Committed on its own before the error; raises instead when it cannot be.
    PERFORM sae_internal.flow_revoke(sid);
    PERFORM sae_internal.flow_raise('refresh token', 'reused',
      'the token was already rotated; its session is revoked');
  END LOOP;
  PERFORM sae_internal.flow_raise('refresh token', 'unknown', 'the session changed during the refresh');
END $$;

CREATE OR REPLACE FUNCTION auth.refresh(refresh_token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN sae_internal.flow_refresh(refresh_token);
END $$;

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
      RAISE EXCEPTION USING ERRCODE = '28000', MESSAGE = 'invalid JWT: missing_claim',
        DETAIL = 'the access token has no session_id: it was not issued by these flows';
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

CREATE OR REPLACE FUNCTION auth.revoke_session(session_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM sae_internal.flow_guard();
  INSERT INTO sae_internal.sae_flow_revocations
  SELECT s.id, clock_timestamp() FROM sae_internal.sae_flow_sessions s
  WHERE s.id = revoke_session.session_id AND NOT sae_internal.flow_revoked(s.id);
END $$;

CREATE OR REPLACE FUNCTION auth.revoke_all(subject text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE n integer;
BEGIN
  PERFORM sae_internal.flow_guard();
  INSERT INTO sae_internal.sae_flow_revocations
  SELECT s.id, clock_timestamp() FROM sae_internal.sae_flow_sessions s
  WHERE s.subject = revoke_all.subject AND NOT sae_internal.flow_revoked(s.id)
    AND NOT coalesce(s.not_after <= clock_timestamp(), false);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;


DROP FUNCTION auth._flow_guard(), auth._flow_secret(), auth._flow_hash(text),
  auth._flow_seal(text, text), auth._flow_open(text, bytea), auth._flow_claims(text),
  auth._flow_issuer(), auth._flow_commit(text, text), auth._flow_pkce(text, text, text),
  auth._flow_raise(text, text, text), auth._flow_presented(text, text), auth._flow_cleanup(),
  auth._flow_seconds(text), auth._flow_session(uuid, text, jsonb, text),
  auth._flow_object(text, bigint, text, uuid, text, bigint), auth._flow_now();

COMMENT ON FUNCTION auth.stats() IS 'This backend''s counters: verifications by outcome and reason, and, for superusers, the key cache''s figures';

SELECT sae_internal.pin_privileges();
