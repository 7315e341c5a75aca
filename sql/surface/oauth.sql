-- Sections 4b and 4c: registered OAuth clients over the flows' codes and sessions, and
-- provider tokens sealed in the database. Storage in sae_internal, granted to nobody; the
-- entry points are SECURITY DEFINER with search_path pinned, as the flows' (flows.sql).

CREATE TABLE sae_internal.sae_oauth_clients (
  client_id text PRIMARY KEY,
  redirect_uris text[] NOT NULL,  -- exact URIs, or Supabase's redirect-URL patterns
  scopes text[] NOT NULL,
  secret_hash bytea,              -- SHA-256 of the client secret; NULL: a public client
  allow_plain boolean NOT NULL,   -- may use PKCE plain (else S256 only)
  created_at timestamptz NOT NULL
);

CREATE TABLE sae_internal.sae_provider_tokens (
  subject text NOT NULL,
  provider text NOT NULL,
  sealed bytea NOT NULL,          -- AEAD under auth.vault_key, bound to (subject, provider)
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (subject, provider)
);

-- The Rust helpers (src/api/oauth.rs), for the functions below only.
CREATE FUNCTION sae_internal.client_check(redirect_uris text[], scopes text[]) RETURNS void
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_client_check';
CREATE FUNCTION sae_internal.client_redirect_ok(registered text[], uri text) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'sae_client_redirect_ok';
CREATE FUNCTION sae_internal.client_scope(requested text, registered text[]) RETURNS text
  LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'sae_client_scope';
CREATE FUNCTION sae_internal.client_secret_ok(presented text, stored_hash bytea) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'sae_client_secret_ok';
CREATE FUNCTION sae_internal.vault_seal(subject text, provider text, tokens text) RETURNS bytea
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_vault_seal';
CREATE FUNCTION sae_internal.vault_open(subject text, provider text, sealed bytea) RETURNS text
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'sae_vault_open';

CREATE FUNCTION sae_internal.client(id text) RETURNS sae_internal.sae_oauth_clients
LANGUAGE plpgsql AS $$
DECLARE
  cl sae_internal.sae_oauth_clients;
BEGIN
  SELECT * INTO cl FROM sae_internal.sae_oauth_clients WHERE client_id = id;
  IF NOT FOUND THEN
    PERFORM sae_internal.flow_raise('option', 'unknown client');
  END IF;
  RETURN cl;
END $$;

CREATE FUNCTION auth.register_client(client_id text, redirect_uris text[],
                                     confidential boolean DEFAULT false, scopes text[] DEFAULT '{}')
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  secret text;
BEGIN
  PERFORM sae_internal.flow_guard();
  IF client_id IS NULL OR client_id = '' THEN
    PERFORM sae_internal.flow_raise('option', 'client_id must be a non-empty text');
  END IF;
  IF redirect_uris IS NULL OR confidential IS NULL OR scopes IS NULL THEN
    PERFORM sae_internal.flow_raise('option', 'redirect_uris, confidential and scopes cannot be NULL');
  END IF;
  PERFORM sae_internal.client_check(redirect_uris, scopes);
  IF EXISTS (SELECT 1 FROM sae_internal.sae_oauth_clients c
             WHERE c.client_id = register_client.client_id) THEN
    PERFORM sae_internal.flow_raise('option', 'client_id is already registered');
  END IF;
  IF confidential THEN
    secret := sae_internal.flow_secret();
  END IF;
  INSERT INTO sae_internal.sae_oauth_clients
  VALUES (client_id, redirect_uris, scopes, sae_internal.flow_hash(secret), false, clock_timestamp());
  RETURN secret;
END $$;

CREATE FUNCTION auth.client_allow_plain(client_id text, allowed boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM sae_internal.flow_guard();
  PERFORM sae_internal.client(client_id);
  UPDATE sae_internal.sae_oauth_clients c SET allow_plain = coalesce(allowed, false)
  WHERE c.client_id = client_allow_plain.client_id;
END $$;

-- The client, its unspent codes and its live sessions go (the sessions are revoked: their
-- refresh tokens stop working, and so do their access tokens under auth.session_check).
CREATE FUNCTION auth.drop_client(client_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM sae_internal.flow_guard();
  DELETE FROM sae_internal.sae_flow_codes c WHERE c.client_id = drop_client.client_id;
  INSERT INTO sae_internal.sae_flow_revocations
  SELECT s.id, clock_timestamp() FROM sae_internal.sae_flow_sessions s
  WHERE s.client_id = drop_client.client_id AND NOT sae_internal.flow_revoked(s.id);
  DELETE FROM sae_internal.sae_oauth_clients c WHERE c.client_id = drop_client.client_id;
END $$;

CREATE FUNCTION auth.authorize(client_id text, redirect_uri text, subject text, challenge text,
                               method text DEFAULT 'S256', scope text DEFAULT NULL,
                               claims jsonb DEFAULT '{}')
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cl sae_internal.sae_oauth_clients;
  granted text;
  code text;
BEGIN
  PERFORM sae_internal.flow_guard();
  cl := sae_internal.client(client_id);
  IF redirect_uri IS NULL OR NOT sae_internal.client_redirect_ok(cl.redirect_uris, redirect_uri) THEN
    PERFORM sae_internal.flow_raise('option', 'redirect_uri is not registered for this client');
  END IF;
  IF subject IS NULL OR subject = '' THEN
    PERFORM sae_internal.flow_raise('option', 'subject must be a non-empty text');
  END IF;
  IF challenge IS NULL THEN
    IF cl.secret_hash IS NULL THEN
      PERFORM sae_internal.flow_raise('option', 'a public client must use PKCE: a challenge is required');
    END IF;
    method := NULL;
  ELSE
    method := sae_internal.flow_pkce_method(challenge, method);
    IF method = 'plain' AND NOT cl.allow_plain THEN
      PERFORM sae_internal.flow_raise('option',
        'this client may not use PKCE plain (auth.client_allow_plain allows it)');
    END IF;
  END IF;
  granted := sae_internal.client_scope(scope, cl.scopes);
  PERFORM sae_internal.flow_check_claims(claims);
  PERFORM sae_internal.flow_cleanup();
  code := sae_internal.flow_secret();
  INSERT INTO sae_internal.sae_flow_codes
  VALUES (sae_internal.flow_hash(code), subject, challenge, method,
          claims || jsonb_build_object('client_id', cl.client_id, 'scope', granted),
          clock_timestamp() + interval '5 minutes', cl.client_id, redirect_uri);
  RETURN code;
END $$;

-- The client is authenticated first (a wrong or missing secret spends nothing); a code of
-- another client or redirect URI is then spent and refused; the hook runs before the code
-- is spent (an error in it leaves the code usable); the verifier is judged after, as in
-- auth.pkce_exchange.
CREATE FUNCTION auth.token(auth_code text, client_id text, redirect_uri text,
                           verifier text DEFAULT NULL, client_secret text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  h bytea;
  c record;
  cl sae_internal.sae_oauth_clients;
  wrong text;
  sid uuid := gen_random_uuid();
  rt text := sae_internal.flow_secret();
  tc jsonb;
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
  SELECT * INTO cl FROM sae_internal.sae_oauth_clients x WHERE x.client_id = token.client_id;
  IF NOT FOUND THEN
    PERFORM sae_internal.flow_raise('client', 'invalid', 'no such client');
  END IF;
  IF cl.secret_hash IS NOT NULL AND (client_secret IS NULL
      OR NOT sae_internal.client_secret_ok(client_secret, cl.secret_hash)) THEN
    PERFORM sae_internal.flow_raise('client', 'invalid', 'a confidential client''s secret is missing or wrong');
  END IF;
  IF cl.secret_hash IS NULL AND client_secret IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('client', 'invalid', 'a public client has no secret');
  END IF;
  wrong := CASE WHEN c.client_id IS DISTINCT FROM cl.client_id THEN 'wrong_client'
                WHEN c.redirect_uri IS DISTINCT FROM redirect_uri THEN 'wrong_redirect_uri' END;
  IF wrong IS NULL THEN
    tc := sae_internal.flow_token_claims(sid, c.subject, c.claims, 'oauth_provider/authorization_code');
  END IF;
  PERFORM sae_internal.flow_spend(h, c.own);
  IF wrong IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('auth code', wrong,
      'the code was issued to another client or redirect URI; the code is burnt');
  END IF;
  IF c.challenge IS NOT NULL AND (verifier IS NULL
      OR NOT sae_internal.flow_pkce(verifier, c.challenge, c.method)) THEN
    PERFORM sae_internal.flow_raise('auth code', 'bad_verifier',
      'the verifier does not answer the challenge; the code is burnt');
  END IF;
  IF c.challenge IS NULL AND verifier IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('auth code', 'bad_verifier',
      'the code was issued without a challenge; the code is burnt');
  END IF;
  PERFORM sae_internal.flow_new_session(sid, c.subject, c.claims, rt, cl.client_id);
  RETURN sae_internal.flow_issue(tc, rt, sid, c.subject);
END $$;

CREATE FUNCTION auth.provider_token_put(subject text, provider text, tokens jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF subject IS NULL OR subject = '' OR provider IS NULL OR provider = '' THEN
    PERFORM sae_internal.flow_raise('option', 'subject and provider must be non-empty texts');
  END IF;
  IF tokens IS NULL OR jsonb_typeof(tokens) <> 'object' THEN
    PERFORM sae_internal.flow_raise('option', 'tokens must be a JSON object');
  END IF;
  INSERT INTO sae_internal.sae_provider_tokens AS t
  VALUES (subject, provider, sae_internal.vault_seal(subject, provider, tokens::text), clock_timestamp())
  ON CONFLICT ON CONSTRAINT sae_provider_tokens_pkey
  DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at;
END $$;

-- The store's one reader. auth.provider_token (a C function, so that it sees its caller)
-- calls it through fmgr once it has established whose tokens the caller may read.
CREATE FUNCTION sae_internal.provider_token_read(subject text, provider text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  sealed bytea;
BEGIN
  SELECT t.sealed INTO sealed FROM sae_internal.sae_provider_tokens t
  WHERE t.subject = provider_token_read.subject AND t.provider = provider_token_read.provider;
  RETURN sae_internal.vault_open(subject, provider, sealed)::jsonb;
END $$;

-- Only for the subject of claims auth.login or auth.authenticate verified in this
-- transaction, called as the role it switched to, from a token not issued to a registered
-- client (src/api/oauth.rs): request settings made any other way name nobody here.
CREATE FUNCTION auth.provider_token(provider text) RETURNS jsonb
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'sae_auth_provider_token';

CREATE FUNCTION auth.provider_token_of(subject text, provider text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN sae_internal.provider_token_read(subject, provider);
END $$;

CREATE FUNCTION auth.provider_token_delete(subject text, provider text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM sae_internal.sae_provider_tokens t
  WHERE t.subject = provider_token_delete.subject AND t.provider = provider_token_delete.provider;
  RETURN FOUND;
END $$;

COMMENT ON FUNCTION auth.register_client(text, text[], boolean, text[]) IS 'Register an OAuth client (public, or confidential: returns its secret, shown once) with its redirect URIs and scopes (privileged)';
COMMENT ON FUNCTION auth.client_allow_plain(text, boolean) IS 'Let a registered client use PKCE plain, or not (privileged)';
COMMENT ON FUNCTION auth.drop_client(text) IS 'Remove a registered client, its unspent codes, and revoke its sessions (privileged)';
COMMENT ON FUNCTION auth.authorize(text, text, text, text, text, text, jsonb) IS 'Issue a single-use auth code for subject to a registered client, bound to its redirect URI, scope and PKCE challenge (privileged)';
COMMENT ON FUNCTION auth.token(text, text, text, text, text) IS 'Exchange a registered client''s auth code for a session: the client authenticated, the same redirect URI, the PKCE verifier';
COMMENT ON FUNCTION auth.provider_token_put(text, text, jsonb) IS 'Store a subject''s tokens from a provider, sealed under auth.vault_key (privileged)';
COMMENT ON FUNCTION auth.provider_token(text) IS 'The verified request subject''s own tokens from a provider (after auth.login, as its role, not for a registered client''s token), else NULL';
COMMENT ON FUNCTION auth.provider_token_of(text, text) IS 'A subject''s tokens from a provider, for the server side (privileged)';
COMMENT ON FUNCTION auth.provider_token_delete(text, text) IS 'Delete a subject''s tokens from a provider; true if there were any (privileged)';
