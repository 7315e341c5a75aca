CREATE FUNCTION auth.whoami() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_whoami';
CREATE FUNCTION auth.stats() RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_stats';
COMMENT ON FUNCTION auth.whoami() IS 'The current role, where the request claims came from, and why auth.uid() is NULL when it is';
COMMENT ON FUNCTION auth.stats() IS 'This backend''s counters: verifications by outcome and reason, and, for superusers, the key cache''s figures';
