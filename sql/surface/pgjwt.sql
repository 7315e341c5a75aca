CREATE FUNCTION sae_internal.create_pgjwt_schema() RETURNS void LANGUAGE plpgsql
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
SELECT sae_internal.create_pgjwt_schema();
CREATE FUNCTION pgjwt.url_encode(data bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $f$;
CREATE FUNCTION pgjwt.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog
  AS $f$ SELECT decode(t || repeat('=', (4 - length(t) % 4) % 4), 'base64')
         FROM translate(data, '-_', '+/') t $f$;
CREATE FUNCTION pgjwt.sign(payload json, secret text, algorithm text DEFAULT 'HS256') RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sae_pgjwt_sign';
CREATE FUNCTION pgjwt.verify(token text, secret text, algorithm text DEFAULT 'HS256')
  RETURNS TABLE(header json, payload json, valid boolean)
  LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'sae_pgjwt_verify';
COMMENT ON FUNCTION pgjwt.sign(json, text, text) IS 'pgjwt 0.2.0 compatible: the same token byte for byte (native HMAC)';
COMMENT ON FUNCTION pgjwt.verify(text, text, text) IS 'pgjwt 0.2.0 compatible: (header, payload, valid); valid false for a wrong secret, expired or not yet valid';
