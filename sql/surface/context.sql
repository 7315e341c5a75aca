-- Schema auth may already exist (Supabase creates it): created only when missing, and only
-- a schema created here gets USAGE for PUBLIC (sae_internal.pin_privileges).
CREATE FUNCTION sae_internal.create_auth_schema() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  IF to_regnamespace('auth') IS NULL THEN
    CREATE SCHEMA auth;
  END IF;
END $f$;
SELECT sae_internal.create_auth_schema();

-- Raw C functions: STABLE (never folded into a cached plan), PARALLEL SAFE. Supabase Auth
-- creates its own auth.uid(), role(), email() and jwt() (SQL functions it owns): those are
-- left as they are, and auth.use_native_helpers() switches them to ours and back.
CREATE TABLE sae_internal.sae_replaced_helpers (
  signature text PRIMARY KEY,   -- e.g. auth.uid()
  definition text NOT NULL,     -- pg_get_functiondef of the function we replaced
  fn oid NOT NULL               -- that function (CREATE OR REPLACE keeps its OID)
);
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
SELECT sae_internal.install_helpers();

CREATE FUNCTION auth.session_active() RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'sae_auth_session_active';
COMMENT ON FUNCTION auth.session_active() IS 'Whether the session the request''s claims name (session_id) is live under auth.session_check; true when they name none or the check is off';

-- Switch helpers that are not ours (Supabase's SQL ones) to ours, in place: CREATE OR
-- REPLACE keeps each function's OID, owner and ACL, so policies and views that use it keep
-- working. The replaced definition is saved each time (Supabase Auth's migrations re-create
-- these functions), and use_native_helpers(false) restores it.
-- SECURITY: a restore runs the saved text as the function's owner (SET ROLE), never as the
-- caller, and only over our own function with the OID it replaced; if that function was
-- dropped or changed since, it refuses (55000). What it reads (the list of helpers, the
-- saved definitions, our library's path) is in sae_internal, never looked up in schema
-- auth, whose owner may be another role.
CREATE FUNCTION auth.use_native_helpers(native boolean DEFAULT true) RETURNS text[]
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
COMMENT ON FUNCTION auth.use_native_helpers(boolean) IS 'Switch auth.uid/role/email/jwt/sub/claim that are not ours (Supabase''s SQL helpers) to the native ones, in place (true), or back (false)';
