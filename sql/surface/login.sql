CREATE FUNCTION auth.login(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_login';
CREATE FUNCTION auth.logout() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_logout';
CREATE FUNCTION auth.authenticate(apikey text, "authorization" text DEFAULT NULL) RETURNS jsonb
  LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_auth_authenticate';
CREATE FUNCTION auth.sign(claims jsonb) RETURNS text LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_auth_sign';
CREATE FUNCTION auth.issue_api_key(role text, expires_in interval DEFAULT '10 years') RETURNS text
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_auth_issue_api_key';
COMMENT ON FUNCTION auth.login(text) IS 'Verify a JWT with auth.jwt_secret, then SET LOCAL ROLE to its role and set request.jwt.claims (PostgREST''s per-request step)';
COMMENT ON FUNCTION auth.logout() IS 'Back to the session role with no claims, for the rest of the transaction';
COMMENT ON FUNCTION auth.authenticate(text, text) IS 'Check an API key (anon or service_role), then auth.login with the Authorization bearer token or the key itself';
COMMENT ON FUNCTION auth.sign(jsonb) IS 'Sign claims with auth.jwt_secret, adding iat and exp (superuser and granted roles only)';
COMMENT ON FUNCTION auth.issue_api_key(text, interval) IS 'Make a long-lived anon or service_role API key (superuser and granted roles only)';
