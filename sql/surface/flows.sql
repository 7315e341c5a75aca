-- Section 4: database-side flows. Storage is the extension's own, in schema sae_internal
-- (names Supabase Auth does not use either), granted to nobody and reached only through
-- the SECURITY DEFINER functions below, each with search_path pinned to pg_catalog,
-- pg_temp (PostgreSQL looks up no function or operator in pg_temp). Codes and refresh
-- tokens are stored only as SHA-256 hashes.
--
-- SECURITY: the entry points run as the extension's owner. Every table and function they
-- use that is not in pg_catalog lives in schema sae_internal, which the extension creates
-- and only its owner may create in, rename or drop from. Nothing is looked up in schema
-- auth: on Supabase its owner is another role, which could add overloads there, or rename
-- the schema and put a planted table under the old name.

CREATE TABLE sae_internal.sae_flow_codes (
  code_hash bytea PRIMARY KEY,
  subject text NOT NULL,
  challenge text,                 -- NULL: a confidential client's code without PKCE
  method text,
  claims jsonb NOT NULL,
  expires_at timestamptz NOT NULL,
  client_id text,                 -- NULL: issued by auth.pkce_begin; else by auth.authorize
  redirect_uri text
);
CREATE INDEX sae_flow_codes_expires_at ON sae_internal.sae_flow_codes (expires_at);

CREATE TABLE sae_internal.sae_flow_sessions (
  id uuid PRIMARY KEY,
  subject text NOT NULL,
  claims jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  not_after timestamptz,          -- NULL: refreshable until revoked
  current_hash bytea NOT NULL,    -- the refresh token that rotates next
  previous_hash bytea,            -- the one it replaced
  rotated_at timestamptz NOT NULL,
  sealed bytea,                   -- the current pair, sealed; cleared after the reuse interval
  client_id text                  -- the registered client it was issued to (auth.token)
);
CREATE INDEX sae_flow_sessions_subject ON sae_internal.sae_flow_sessions (subject);
CREATE INDEX sae_flow_sessions_not_after ON sae_internal.sae_flow_sessions (not_after);
CREATE INDEX sae_flow_sessions_sealed ON sae_internal.sae_flow_sessions (rotated_at) WHERE sealed IS NOT NULL;
CREATE INDEX sae_flow_sessions_client ON sae_internal.sae_flow_sessions (client_id) WHERE client_id IS NOT NULL;

-- A session is revoked when a row names it here. Insert-only: a revocation never waits on
-- the session row's lock (a refresh may hold it), and the autonomous worker inserts one.
CREATE TABLE sae_internal.sae_flow_revocations (
  session_id uuid NOT NULL,
  revoked_at timestamptz NOT NULL
);
CREATE INDEX sae_flow_revocations_session ON sae_internal.sae_flow_revocations (session_id);
CREATE INDEX sae_flow_revocations_revoked_at ON sae_internal.sae_flow_revocations (revoked_at);

-- The hashes of a session's last refresh tokens (older ones are pruned: see auth.refresh).
CREATE TABLE sae_internal.sae_flow_refresh_tokens (
  token_hash bytea PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES sae_internal.sae_flow_sessions (id) ON DELETE CASCADE,
  issued_at timestamptz NOT NULL
);
CREATE INDEX sae_flow_refresh_tokens_session ON sae_internal.sae_flow_refresh_tokens (session_id, issued_at);

-- The Rust helpers (src/api/flows.rs), for the functions below only.
CREATE FUNCTION sae_internal.flow_guard() RETURNS void LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_guard';
CREATE FUNCTION sae_internal.flow_secret() RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_secret';
CREATE FUNCTION sae_internal.flow_hash(secret text) RETURNS bytea LANGUAGE c IMMUTABLE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_hash';
CREATE FUNCTION sae_internal.flow_seal(secret text, sid text, data text) RETURNS bytea
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_seal';
CREATE FUNCTION sae_internal.flow_open(secret text, sid text, sealed bytea) RETURNS text
  LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'sae_flow_open';
CREATE FUNCTION sae_internal.flow_claims(token text) RETURNS jsonb LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_flow_claims';
CREATE FUNCTION sae_internal.flow_issuer() RETURNS text LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'sae_flow_issuer';
CREATE FUNCTION sae_internal.flow_own_row(xmin text) RETURNS boolean LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_own_row';
CREATE FUNCTION sae_internal.flow_claim(code_hash_hex text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_claim';
CREATE FUNCTION sae_internal.flow_revoke(sid uuid) RETURNS void LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'sae_flow_revoke';
CREATE FUNCTION sae_internal.flow_pkce(verifier text, challenge text, method text) RETURNS boolean
  LANGUAGE c IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'sae_flow_pkce';
CREATE FUNCTION sae_internal.flow_sign(claims jsonb) RETURNS text LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'sae_auth_sign';

-- The helpers below run only inside the SECURITY DEFINER entry points, under their fixed
-- search_path; nobody but the owner may execute them. They carry no SET of their own: that
-- lets the SQL ones be inlined and spares a GUC save and restore per call.
-- A flow's refusal: 28000 `invalid auth code: <reason>`, `invalid refresh token: <reason>`,
-- `invalid JWT: <reason>`, or 22023 `invalid option: ...` (what = 'option'). The SQLSTATE
-- and the message come from src/error.rs, the one place every error is made.
CREATE FUNCTION sae_internal.flow_raise(what text, reason text, detail text DEFAULT NULL)
RETURNS void LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'sae_flow_raise';

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

CREATE FUNCTION sae_internal.flow_call_hook(hook oid, subject text, claims jsonb, method text)
RETURNS jsonb LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'sae_flow_call_hook';

-- The claims of a new access token for session `sid` (as auth.sign would sign them), passed
-- through auth.access_token_hook when one is set (section 4d). The hook is looked up here,
-- under the entry points' search_path (pg_catalog, pg_temp: name its schema), and called
-- as its owner by flow_call_hook.
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

-- The session object for final access-token claims `c` and its refresh token.
CREATE FUNCTION sae_internal.flow_issue(c jsonb, refresh_token text, sid uuid, subject text)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT sae_internal.flow_object(sae_internal.flow_sign(c), (c->>'exp')::bigint, refresh_token,
    sid, subject, (c->>'iat')::bigint)
$$;

-- A PKCE challenge and method checked (22023) and the method spelled as RFC 7636 does.
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

-- The claims a code carries checked (22023): an object that sets none of the claims the
-- flows set themselves.
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

-- Claim (spend) the code whose hash is `h`, once, before its verifier is judged: a code of
-- this very transaction is deleted in it; any other by the worker, committed on its own.
CREATE FUNCTION sae_internal.flow_spend(h bytea, own boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF own THEN  -- issued in this very transaction: a rollback removes it anyway
    DELETE FROM sae_internal.sae_flow_codes WHERE code_hash = h;
  ELSIF NOT sae_internal.flow_claim(encode(h, 'hex')) THEN
    PERFORM sae_internal.flow_raise('auth code', 'unknown', 'the code was used meanwhile');
  END IF;
END $$;

-- A new session for `subject` (of client `client`, NULL for none) whose first refresh
-- token is `rt`.
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

CREATE FUNCTION auth.pkce_begin(subject text, challenge text, method text DEFAULT 'S256',
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

-- The code is claimed (removed, in a transaction of its own) before the verifier is judged:
-- every presented verifier costs the code, and of concurrent callers exactly one is judged.
-- The access token's claims, and the hook's answer, are made before: an error in the hook
-- leaves the code unspent. A code issued to a registered client (auth.authorize) is spent
-- and refused here: it is exchanged with auth.token, which authenticates the client.
CREATE FUNCTION auth.pkce_exchange(auth_code text, verifier text) RETURNS jsonb
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

CREATE FUNCTION auth.refresh(refresh_token text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN sae_internal.flow_refresh(refresh_token);
END $$;

CREATE FUNCTION auth.resume(access_token text, refresh_token text) RETURNS jsonb
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

CREATE FUNCTION auth.revoke_session(session_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM sae_internal.flow_guard();
  INSERT INTO sae_internal.sae_flow_revocations
  SELECT s.id, clock_timestamp() FROM sae_internal.sae_flow_sessions s
  WHERE s.id = revoke_session.session_id AND NOT sae_internal.flow_revoked(s.id);
END $$;

CREATE FUNCTION auth.revoke_all(subject text) RETURNS integer
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

COMMENT ON FUNCTION auth.pkce_begin(text, text, text, jsonb, interval) IS 'Issue a single-use auth code for subject, bound to a PKCE challenge (privileged)';
COMMENT ON FUNCTION auth.pkce_exchange(text, text) IS 'Exchange an auth code and its PKCE verifier for a session (access and refresh token)';
COMMENT ON FUNCTION auth.refresh(text) IS 'Rotate a refresh token: a new session pair; reuse of an old token revokes the session';
COMMENT ON FUNCTION auth.resume(text, text) IS 'The pair as is while the access token is valid beyond auth.resume_margin, else refreshed';
COMMENT ON FUNCTION auth.revoke_session(uuid) IS 'End one flow session: its refresh tokens stop working (privileged)';
COMMENT ON FUNCTION auth.revoke_all(text) IS 'End every live flow session of a subject; returns how many (privileged)';
