-- supabase_auth_ext 0.4.1 -> 0.5.0: registered OAuth clients (auth.register_client,
-- auth.authorize, auth.token, auth.drop_client, auth.client_allow_plain), provider tokens
-- sealed under auth.vault_key (auth.provider_token_put, provider_token, provider_token_of,
-- provider_token_delete), and the access token hook (auth.access_token_hook) for every
-- access token the flows issue (contract sections 4b-4d).
\echo Use "ALTER EXTENSION supabase_auth_ext UPDATE TO '0.5.0'" to load this file. \quit

-- Codes of registered clients: bound to the client and redirect URI; a confidential
-- client's code may carry no PKCE challenge. Sessions remember their client.
ALTER TABLE sae_internal.sae_flow_codes ALTER COLUMN challenge DROP NOT NULL,
  ALTER COLUMN method DROP NOT NULL, ADD COLUMN client_id text, ADD COLUMN redirect_uri text;
ALTER TABLE sae_internal.sae_flow_sessions ADD COLUMN client_id text;
CREATE INDEX sae_flow_sessions_client ON sae_internal.sae_flow_sessions (client_id) WHERE client_id IS NOT NULL;

CREATE FUNCTION sae_internal.flow_call_hook(hook oid, subject text, claims jsonb, method text)
RETURNS jsonb LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_call_hook';

CREATE FUNCTION sae_internal.flow_token_claims(sid uuid, subject text, claims jsonb, method text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  iat bigint := sae_internal.flow_now();
  exp bigint := iat + sae_internal.flow_seconds('auth.access_token_lifetime');
  aud text := current_setting('auth.jwt_aud');
  iss text := sae_internal.flow_issuer();
  hook text := current_setting('auth.access_token_hook');
  fn regprocedure;
  c jsonb := jsonb_build_object('role', 'authenticated') || claims
    || jsonb_build_object('sub', subject, 'session_id', sid, 'iat', iat, 'exp', exp);
BEGIN
  IF aud <> '' THEN c := c || jsonb_build_object('aud', aud); END IF;
  IF iss IS NOT NULL THEN c := c || jsonb_build_object('iss', iss); END IF;
  IF hook = '' THEN
    RETURN c;
  END IF;
  fn := to_regprocedure(hook || '(jsonb)');
  IF fn IS NULL THEN
    PERFORM sae_internal.flow_raise('option',
      'auth.access_token_hook names no function schema.name(jsonb)');
  END IF;
  RETURN sae_internal.flow_call_hook(fn, subject, c, method);
END $$;

CREATE FUNCTION sae_internal.flow_issue(c jsonb, refresh_token text, sid uuid, subject text)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT sae_internal.flow_object(sae_internal.flow_sign(c), (c->>'exp')::bigint, refresh_token,
    sid, subject, (c->>'iat')::bigint)
$$;

CREATE FUNCTION sae_internal.flow_pkce_method(challenge text, method text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
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
  RETURN method;
END $$;

CREATE FUNCTION sae_internal.flow_check_claims(claims jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  set_here text;
BEGIN
  IF claims IS NULL OR jsonb_typeof(claims) <> 'object' THEN
    PERFORM sae_internal.flow_raise('option', 'claims must be a JSON object');
  END IF;
  SELECT string_agg(k, ', ') INTO set_here FROM jsonb_object_keys(claims) k
  WHERE k IN ('sub', 'session_id', 'iat', 'exp', 'nbf', 'aud', 'iss', 'client_id', 'scope');
  IF set_here IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('option', format('claims may not set %s (the flow sets them)', set_here));
  END IF;
END $$;

CREATE FUNCTION sae_internal.flow_spend(h bytea, own boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF own THEN  -- issued in this very transaction: a rollback removes it anyway
    DELETE FROM sae_internal.sae_flow_codes WHERE code_hash = h;
  ELSIF NOT sae_internal.flow_claim(encode(h, 'hex')) THEN
    PERFORM sae_internal.flow_raise('auth code', 'unknown', 'the code was used meanwhile');
  END IF;
END $$;

CREATE FUNCTION sae_internal.flow_new_session(sid uuid, subject text, claims jsonb, rt text,
                                              client text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  lifetime bigint := sae_internal.flow_seconds('auth.session_lifetime');
  rt_hash bytea := sae_internal.flow_hash(rt);
BEGIN
  INSERT INTO sae_internal.sae_flow_sessions (id, subject, claims, created_at, not_after,
                                              current_hash, rotated_at, client_id)
  VALUES (sid, subject, claims, clock_timestamp(),
          CASE WHEN lifetime > 0 THEN clock_timestamp() + make_interval(secs => lifetime) END,
          rt_hash, clock_timestamp(), client);
  INSERT INTO sae_internal.sae_flow_refresh_tokens VALUES (rt_hash, sid, clock_timestamp());
END $$;

-- The flows now build the access token's claims apart (through the hook) and spend the code in one place;
-- pkce_begin's claims may not set client_id or scope (a registered client's claims).

CREATE OR REPLACE FUNCTION auth.pkce_begin(subject text, challenge text, method text DEFAULT 'S256',
                                claims jsonb DEFAULT '{}', ttl interval DEFAULT '5 minutes')
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  code text;
BEGIN
  PERFORM sae_internal.flow_guard();
  IF subject IS NULL OR subject = '' THEN
    PERFORM sae_internal.flow_raise('option', 'subject must be a non-empty text');
  END IF;
  method := sae_internal.flow_pkce_method(challenge, method);
  PERFORM sae_internal.flow_check_claims(claims);
  IF ttl IS NULL OR ttl <= interval '0' THEN
    PERFORM sae_internal.flow_raise('option', 'ttl must be positive');
  END IF;
  PERFORM sae_internal.flow_cleanup();
  code := sae_internal.flow_secret();
  INSERT INTO sae_internal.sae_flow_codes
  VALUES (sae_internal.flow_hash(code), subject, challenge, method, claims, clock_timestamp() + ttl);
  RETURN code;
END $$;

CREATE OR REPLACE FUNCTION auth.pkce_exchange(auth_code text, verifier text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  h bytea;
  c record;  -- the code's row, and whether this transaction inserted it
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
  IF c.client_id IS NULL THEN
    tc := sae_internal.flow_token_claims(sid, c.subject, c.claims, 'pkce');
  END IF;
  PERFORM sae_internal.flow_spend(h, c.own);
  IF c.client_id IS NOT NULL THEN
    PERFORM sae_internal.flow_raise('auth code', 'wrong_client',
      'the code was issued to a registered client: exchange it with auth.token; the code is burnt');
  END IF;
  IF verifier IS NULL OR NOT sae_internal.flow_pkce(verifier, c.challenge, c.method) THEN
    PERFORM sae_internal.flow_raise('auth code', 'bad_verifier',
      'the verifier does not answer the challenge; the code is burnt');
  END IF;
  PERFORM sae_internal.flow_new_session(sid, c.subject, c.claims, rt, NULL);
  RETURN sae_internal.flow_issue(tc, rt, sid, c.subject);
END $$;

CREATE OR REPLACE FUNCTION sae_internal.flow_refresh(refresh_token text) RETURNS jsonb
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
      out := sae_internal.flow_issue(
        sae_internal.flow_token_claims(sid, s.subject, s.claims, 'token_refresh'), rt, sid, s.subject);
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

DROP FUNCTION sae_internal.flow_session(uuid, text, jsonb, text);

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

-- The new privileged entry points are not executable by PUBLIC.

CREATE OR REPLACE FUNCTION sae_internal.owner_only() RETURNS text[] LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $f$
  SELECT ARRAY['sign(jsonb)', 'issue_api_key(text, interval)', 'use_native_helpers(boolean)',
    'pkce_begin(text, text, text, jsonb, interval)', 'revoke_session(uuid)', 'revoke_all(text)',
    'register_client(text, text[], boolean, text[])', 'client_allow_plain(text, boolean)',
    'drop_client(text)', 'authorize(text, text, text, text, text, text, jsonb)',
    'provider_token_put(text, text, jsonb)', 'provider_token_of(text, text)',
    'provider_token_delete(text, text)']
$f$;

SELECT sae_internal.pin_privileges();
