-- supabase_auth_ext 0.3.0 -> 0.4.0: access tokens that die with their session (contract
-- section 3b: auth.session_check, auth.session_active()), and DROP EXTENSION refusing
-- while Supabase's helpers are switched to ours.
\echo Use "ALTER EXTENSION supabase_auth_ext UPDATE TO '0.4.0'" to load this file. \quit

CREATE FUNCTION auth.session_active() RETURNS boolean LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'sae_auth_session_active';
COMMENT ON FUNCTION auth.session_active() IS 'Whether the session the request''s claims name (session_id) is live under auth.session_check; true when they name none or the check is off';

-- While a helper is switched, it depends on its saved definition (see use_native_helpers):
-- the helpers a 0.3.0 database has switched get that dependency now.
CREATE FUNCTION sae_internal.depend_on_saved_helpers() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  INSERT INTO pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype)
  SELECT 'pg_proc'::regclass, r.fn, 0, 'pg_class'::regclass,
         'sae_internal.sae_replaced_helpers'::regclass, 0, 'n'
  FROM sae_internal.sae_replaced_helpers r
  JOIN sae_internal.native_helpers() n ON n.signature = r.signature
  JOIN pg_proc p ON p.oid = r.fn
  WHERE to_regprocedure(r.signature) = r.fn AND p.prosrc = n.symbol
    AND p.probin = (SELECT probin FROM pg_proc WHERE oid = 'sae_internal.flow_guard()'::regprocedure);
END $f$;
SELECT sae_internal.depend_on_saved_helpers();
DROP FUNCTION sae_internal.depend_on_saved_helpers();

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

SELECT sae_internal.pin_privileges();
