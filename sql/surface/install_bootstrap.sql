-- Fails when the schema exists: nobody can plant objects in it beforehand.
CREATE SCHEMA sae_internal;
REVOKE ALL ON SCHEMA sae_internal FROM PUBLIC;
COMMENT ON SCHEMA sae_internal IS 'supabase_auth_ext internals: executable by its owner alone';

-- The errors this SQL raises by name; their SQLSTATE and text come from src/error.rs.
CREATE FUNCTION sae_internal.raise(name text, arg text DEFAULT NULL) RETURNS void
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_raise';

-- Every function, table and schema of the extension gets exactly its documented privileges:
-- what CREATE EXTENSION or an earlier release granted (default privileges included) and the
-- list below does not allow is revoked; grants made by hand after installing are kept.
-- A function is executable by PUBLIC unless it is in sae_internal or listed here (by name
-- and argument types, not by schema: a schema auth owned by another role may be renamed).
CREATE FUNCTION sae_internal.owner_only() RETURNS text[] LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $f$
  SELECT ARRAY['sign(jsonb)', 'issue_api_key(text, interval)', 'use_native_helpers(boolean)',
    'pkce_begin(text, text, text, jsonb, interval)', 'revoke_session(uuid)', 'revoke_all(text)',
    'register_client(text, text[], boolean, text[])', 'client_allow_plain(text, boolean)',
    'drop_client(text)', 'authorize(text, text, text, text, text, text, jsonb)',
    'provider_token_put(text, text, jsonb)', 'provider_token_of(text, text)',
    'provider_token_delete(text, text)']
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
