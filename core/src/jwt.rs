//! Compact JWS: decode, verify, sign (RFC 7515 / 7519), with the contract's checks.
use crate::alg::{Alg, Family};
use crate::claims::{self, VerifyOptions};
use crate::error::{AuthError, Reason, Result};
use crate::hmac::{hmac_sign, hmac_verify};
use crate::json::Node;
use crate::keys::{Key, KeySet, Purpose};
use crate::material::Material;
use crate::{b64, json};
use std::borrow::Cow;

/// Longest token accepted (contract section 1): bounds the work an attacker can cause.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

fn malformed(detail: &str) -> AuthError {
    AuthError::token(Reason::Malformed, detail)
}

/// The parts of a compact JWS, decoded but not verified.
struct Parts<'a> {
    signing_input: &'a str,
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Parts<'_>> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::token(
            Reason::TooLarge,
            format!("the token is longer than {MAX_TOKEN_LEN} bytes"),
        ));
    }
    // The first and last dots by SIMD search, then no dot between them: exactly three
    // segments. (str::split scans byte by byte; tokens are hundreds of bytes.)
    let bytes = token.as_bytes();
    let three = memchr::memchr(b'.', bytes)
        .zip(memchr::memrchr(b'.', bytes))
        .filter(|(first, last)| {
            first < last && memchr::memchr(b'.', &bytes[first + 1..*last]).is_none()
        });
    let Some((first, last)) = three else {
        return Err(malformed(
            "a compact JWS has exactly three dot-separated segments",
        ));
    };
    let (h, p, s) = (&token[..first], &token[first + 1..last], &token[last + 1..]);
    let seg = |text: &str, name: &str| {
        b64::decode(text)
            .ok_or_else(|| malformed(&format!("the {name} segment is not unpadded base64url")))
    };
    Ok(Parts {
        signing_input: &token[..h.len() + 1 + p.len()],
        header: seg(h, "header")?,
        payload: seg(p, "payload")?,
        signature: seg(s, "signature")?,
    })
}

/// Parse a header or payload: a JSON object, nesting bounded, strict JSON.
pub(crate) fn object<'a>(bytes: &'a [u8], name: &str) -> Result<Node<'a>> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(malformed(&format!("the {name} is not a JSON object")));
    }
    json::prescan(bytes)?;
    crate::json::parse(bytes).ok_or_else(|| malformed(&format!("the {name} is not valid JSON")))
}

/// The protected header, with the members the contract gives meaning to.
struct Header {
    alg: Alg,
    kid: Option<String>,
}

fn header(bytes: &[u8]) -> Result<Header> {
    let h = object(bytes, "header")?;
    let alg = match h.get("alg").and_then(Node::as_str) {
        Some(name) if name.eq_ignore_ascii_case("none") => {
            return Err(AuthError::token(
                Reason::AlgNone,
                "unsecured tokens are never accepted",
            ))
        }
        Some(name) => Alg::from_name(name).ok_or_else(|| {
            AuthError::token(
                Reason::UnsupportedAlg,
                format!("algorithm {} is not supported", json::quote(name)),
            )
        })?,
        None => return Err(malformed("the header has no \"alg\" string")),
    };
    if h.get("crit").is_some() || h.get("b64") == Some(&Node::Bool(false)) {
        return Err(AuthError::token(
            Reason::CritUnsupported,
            "no critical header extension is supported",
        ));
    }
    // jku, x5u, jwk and x5c are ignored: a key never comes from the token itself.
    let kid = match h.get("kid") {
        None => None,
        Some(k) => Some(
            k.as_str()
                .ok_or_else(|| malformed("the header's \"kid\" is not a string"))?
                .to_owned(),
        ),
    };
    Ok(Header { alg, kid })
}

/// `jwt_decode`: `{"header": ..., "payload": ...}` of a structurally valid token, NOT
/// verified, handed to `finish` as a tree and as JSON text while the bytes live.
pub fn decode_with<R>(token: &str, finish: impl FnOnce(&mut Node, &str) -> R) -> Result<R> {
    let parts = split(token)?;
    let h = object(&parts.header, "header")?;
    let p = object(&parts.payload, "payload")?;
    // Both were parsed as UTF-8 JSON just above.
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .expect("validated as JSON")
            .to_owned()
    };
    let json = format!(
        "{{\"header\":{},\"payload\":{}}}",
        text(&parts.header),
        text(&parts.payload)
    );
    let mut both = Node::Obj(vec![
        (Cow::Borrowed(&b"header"[..]), h),
        (Cow::Borrowed(&b"payload"[..]), p),
    ]);
    Ok(finish(&mut both, &json))
}

/// Verify `token` against `keys` with the contract's rules; on success hand the payload to
/// `finish` as a tree and as JSON text, parsed once. `leeway` applies unless the options
/// name their own.
pub fn verify_with<R>(
    token: &str,
    keys: &KeySet,
    opts: &VerifyOptions,
    now: f64,
    leeway: f64,
    finish: impl FnOnce(&mut Node, &str) -> R,
) -> Result<R> {
    let parts = split(token)?;
    let h = header(&parts.header)?;
    if let Some(allowed) = &opts.algorithms {
        if !allowed.contains(&h.alg) {
            return Err(AuthError::token(
                Reason::AlgNotAllowed,
                format!("algorithm {} is not in the allowed list", h.alg.name()),
            ));
        }
    }
    let candidates = candidates(keys, &h)?;
    if !candidates.iter().any(|k| check_signature(k, h.alg, &parts)) {
        return Err(AuthError::token(
            Reason::BadSignature,
            "the signature does not match",
        ));
    }
    let mut claims = object(&parts.payload, "payload")?;
    claims::check(
        &claims,
        opts,
        opts.now.unwrap_or(now),
        opts.leeway.unwrap_or(leeway),
    )?;
    let text = std::str::from_utf8(&parts.payload).expect("validated as JSON");
    Ok(finish(&mut claims, text))
}

/// [`verify_with`], returning the payload's JSON text.
pub fn verify(
    token: &str,
    keys: &KeySet,
    opts: &VerifyOptions,
    now: f64,
    leeway: f64,
) -> Result<String> {
    verify_with(token, keys, opts, now, leeway, |_, text| text.to_owned())
}

/// The keys that may verify this token: kid match first, then family / alg / use.
fn candidates<'k>(keys: &'k KeySet, h: &Header) -> Result<Vec<&'k Key>> {
    let by_kid: Vec<&Key> = match (&h.kid, keys.is_set) {
        (Some(kid), true) => keys
            .keys
            .iter()
            .filter(|k| k.kid.as_ref() == Some(kid))
            .collect(),
        (Some(kid), false) => keys
            .keys
            .iter()
            .filter(|k| k.kid.as_ref().is_none_or(|own| own == kid))
            .collect(),
        (None, _) => keys.keys.iter().collect(),
    };
    if by_kid.is_empty() {
        return Err(AuthError::token(
            Reason::UnknownKid,
            format!(
                "no key has kid {}",
                json::quote(h.kid.as_deref().unwrap_or(""))
            ),
        ));
    }
    let usable: Vec<&Key> = by_kid
        .into_iter()
        .filter(|k| k.serves(h.alg, Purpose::Verify))
        .collect();
    if usable.is_empty() {
        return Err(AuthError::token(
            Reason::AlgNotAllowed,
            format!(
                "algorithm {} needs {}, and no such key was given",
                h.alg.name(),
                h.alg.family().describe()
            ),
        ));
    }
    Ok(usable)
}

fn check_signature(key: &Key, alg: Alg, parts: &Parts) -> bool {
    // `serves` matched the key's family to the algorithm before we get here.
    let input = parts.signing_input.as_bytes();
    match &key.material {
        Material::Hmac(secret) => hmac_verify(alg, secret, input, &parts.signature),
        other => crate::asym::verify(other, alg, input, &parts.signature),
    }
}

/// `jwt_sign`: claims (compact JSON object text) signed with the chosen key. The header is
/// `{"alg":...,"typ":"JWT"}` plus the key's kid; nothing is added to the claims.
pub fn sign(claims_json: &str, keys: &KeySet, alg: Option<Alg>) -> Result<String> {
    if claims_json.trim_start().as_bytes().first() != Some(&b'{') {
        return Err(AuthError::InvalidOption(
            "claims must be a JSON object".into(),
        ));
    }
    let (key, alg) = keys.signing_key(alg)?;
    let mut header = format!("{{\"alg\":\"{}\",\"typ\":\"JWT\"", alg.name());
    if let Some(kid) = &key.kid {
        header.push_str(",\"kid\":");
        header.push_str(&json::quote(kid));
    }
    header.push('}');
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(claims_json.as_bytes())
    );
    let signature = sign_input(key, alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64::encode(&signature)))
}

/// The signature of a signing input (`header.payload`) with `key`, which must serve `alg`.
pub fn sign_input(key: &Key, alg: Alg, input: &[u8]) -> Result<Vec<u8>> {
    match (&key.material, alg.family()) {
        (Material::Hmac(secret), Family::Hmac) => Ok(hmac_sign(alg, secret, input)),
        (other, _) => crate::asym::sign(other, alg, input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header and payload JSON text of a structurally valid token, NOT verified.
    fn decode(token: &str) -> Result<(String, String)> {
        let parts = split(token)?;
        object(&parts.header, "header")?;
        object(&parts.payload, "payload")?;
        let text = |b: Vec<u8>| String::from_utf8(b).expect("validated as JSON");
        Ok((text(parts.header), text(parts.payload)))
    }

    // RFC 7515 appendix A.1 (the same token is RFC 7519 section 3.1's example).
    const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const A1_JWK: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

    fn opts(text: &str) -> VerifyOptions {
        VerifyOptions::from_json(text).unwrap()
    }

    fn secret(s: &str) -> KeySet {
        KeySet::from_text(s).unwrap()
    }

    fn reason(r: Result<String>) -> Reason {
        r.unwrap_err().reason().expect("a token error")
    }

    #[test]
    fn rfc7515_a1_verifies() {
        let keys = KeySet::from_json(A1_JWK).unwrap();
        let payload = at_rfc_time(A1_TOKEN, &keys).unwrap();
        assert_eq!(
            payload,
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
        );
        assert_eq!(
            reason(verify(A1_TOKEN, &keys, &opts("{}"), 1_300_819_380.0, 0.0)),
            Reason::Expired
        );
        // the same signing input and key give the RFC's signature
        let parts = split(A1_TOKEN).unwrap();
        let Material::Hmac(k) = &keys.keys[0].material else {
            panic!()
        };
        assert_eq!(
            b64::encode(&hmac_sign(Alg::HS256, k, parts.signing_input.as_bytes())),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    #[test]
    fn sign_then_verify_every_hmac_alg() {
        let keys = secret("a-string-secret-at-least-256-bits-long");
        for alg in [Alg::HS256, Alg::HS384, Alg::HS512] {
            let t = sign(r#"{"sub":"u","n":1}"#, &keys, Some(alg)).unwrap();
            let (h, p) = decode(&t).unwrap();
            assert_eq!(h, format!("{{\"alg\":\"{}\",\"typ\":\"JWT\"}}", alg.name()));
            assert_eq!(p, r#"{"sub":"u","n":1}"#);
            assert_eq!(verify(&t, &keys, &opts("{}"), 0.0, 0.0).unwrap(), p);
            assert_eq!(
                reason(verify(&t, &secret("other"), &opts("{}"), 0.0, 0.0)),
                Reason::BadSignature
            );
        }
    }

    #[test]
    fn kid_is_emitted_and_selects_the_key() {
        let set = KeySet::from_json(
            r#"{"keys":[{"kty":"oct","k":"YQ","kid":"a"},{"kty":"oct","k":"Yg","kid":"b"}]}"#,
        )
        .unwrap();
        let only_b = KeySet::from_json(r#"{"kty":"oct","k":"Yg","kid":"b"}"#).unwrap();
        let t = sign("{}", &only_b, None).unwrap();
        assert!(decode(&t).unwrap().0.ends_with(r#","kid":"b"}"#));
        assert!(verify(&t, &set, &opts("{}"), 0.0, 0.0).is_ok());
        let only_c = KeySet::from_json(r#"{"kty":"oct","k":"Yg","kid":"c"}"#).unwrap();
        let t = sign("{}", &only_c, None).unwrap();
        assert_eq!(
            reason(verify(&t, &set, &opts("{}"), 0.0, 0.0)),
            Reason::UnknownKid
        );
        assert_eq!(
            reason(verify(&t, &only_b, &opts("{}"), 0.0, 0.0)),
            Reason::UnknownKid
        );
        // no kid in the token: each key is tried
        let t = sign("{}", &secret("b"), None).unwrap();
        assert!(verify(&t, &set, &opts("{}"), 0.0, 0.0).is_ok());
    }

    fn forge(header: &str, payload: &str, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload.as_bytes()),
            sig
        )
    }

    /// A token with any header and payload bytes, correctly signed with HS256 secret "k".
    fn forge_signed(header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(payload.as_bytes())
        );
        let sig = b64::encode(&hmac_sign(Alg::HS256, b"k", input.as_bytes()));
        format!("{input}.{sig}")
    }

    #[test]
    fn attacks() {
        let keys = secret("k");
        for none in ["none", "None", "NONE", "nOnE"] {
            let t = forge(&format!("{{\"alg\":\"{none}\"}}"), "{}", "");
            assert_eq!(
                reason(verify(&t, &keys, &opts("{}"), 0.0, 0.0)),
                Reason::AlgNone
            );
        }
        let good = sign(r#"{"role":"user"}"#, &keys, None).unwrap();
        let mut p: Vec<&str> = good.split('.').collect();
        let evil = b64::encode(br#"{"role":"admin"}"#);
        p[1] = &evil;
        assert_eq!(
            reason(verify(&p.join("."), &keys, &opts("{}"), 0.0, 0.0)),
            Reason::BadSignature
        );
        let mut sig = good.clone();
        let last = sig.pop().unwrap();
        sig.push(if last == 'A' { 'Q' } else { 'A' });
        assert_eq!(
            reason(verify(&sig, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::BadSignature
        );
        // algorithm confusion: an RSA token with a secret, an HMAC token with a PEM
        let t = forge(r#"{"alg":"RS256"}"#, "{}", "AAAA");
        assert_eq!(
            reason(verify(&t, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::AlgNotAllowed
        );
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n";
        let t = sign("{}", &secret(pem), Some(Alg::HS256)).unwrap_err();
        assert!(matches!(t, AuthError::InvalidKey(_)));
        let hs_with_pem = sign("{}", &secret(pem.trim_start_matches('-')), None).unwrap();
        assert_eq!(
            reason(verify(&hs_with_pem, &secret(pem), &opts("{}"), 0.0, 0.0)),
            Reason::AlgNotAllowed
        );
        // crit and b64
        let t = forge(r#"{"alg":"HS256","crit":["exp"]}"#, "{}", "");
        assert_eq!(
            reason(verify(&t, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::CritUnsupported
        );
        let t = forge(r#"{"alg":"HS256","b64":false}"#, "{}", "");
        assert_eq!(
            reason(verify(&t, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::CritUnsupported
        );
        let t = forge(r#"{"alg":"ES512"}"#, "{}", "");
        assert_eq!(
            reason(verify(&t, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::UnsupportedAlg
        );
        let t = sign("{}", &keys, Some(Alg::HS512)).unwrap();
        assert_eq!(
            reason(verify(
                &t,
                &keys,
                &opts(r#"{"algorithms":["HS256"]}"#),
                0.0,
                0.0
            )),
            Reason::AlgNotAllowed
        );
    }

    #[test]
    fn malformed_and_too_large() {
        let keys = secret("k");
        let ok = sign("{}", &keys, None).unwrap();
        let cases = [
            "".to_string(),
            "abc".to_string(),
            "a.b".to_string(),
            format!("{ok}.x"),
            ok.replacen('.', "=.", 1),
            ok.replacen('.', "+.", 1),
            forge("[1]", "{}", ""),
            forge_signed(r#"{"alg":"HS256"}"#, "[1]"),
            forge_signed(r#"{"alg":"HS256"}"#, "5"),
            forge_signed(r#"{"alg":"HS256"}"#, r#"{"a":1"#),
            forge_signed(r#"{"alg":"HS256"}"#, r#"{"a":1} {}"#),
            forge_signed(r#"{"alg":"HS256"}"#, r#"{"a":"\u0000"}"#),
            forge(r#"{"alg":5}"#, "{}", ""),
            forge(r#"{"typ":"JWT"}"#, "{}", ""),
            forge(r#"{"alg":"HS256","kid":5}"#, "{}", ""),
            forge(r#"{"alg":"HS256"#, "{}", ""),
        ];
        for t in &cases {
            let r = verify(t, &keys, &opts("{}"), 0.0, 0.0);
            assert_eq!(reason(r), Reason::Malformed, "{t}");
        }
        let big = forge(
            r#"{"alg":"HS256"}"#,
            &format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_TOKEN_LEN)),
            "",
        );
        assert_eq!(
            reason(verify(&big, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::TooLarge
        );
        let deep = sign(
            &format!("{{\"a\":{}{}}}", "[".repeat(128), "]".repeat(128)),
            &keys,
            None,
        )
        .unwrap();
        assert_eq!(
            reason(verify(&deep, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::TooLarge
        );
        let just = sign(
            &format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127)),
            &keys,
            None,
        )
        .unwrap();
        assert!(verify(&just, &keys, &opts("{}"), 0.0, 0.0).is_ok());
    }

    #[test]
    fn messages_never_carry_the_token_or_secret() {
        let keys = secret("hunter2-secret");
        let t = sign(r#"{"exp":1,"sub":"PRIVATE"}"#, &keys, None).unwrap();
        let e = verify(&t, &keys, &opts("{}"), 10.0, 0.0).unwrap_err();
        let AuthError::Token { detail, .. } = &e else {
            panic!()
        };
        for text in [e.to_string(), detail.clone()] {
            assert!(
                !text.contains("hunter2") && !text.contains("PRIVATE") && !text.contains(&t[..20]),
                "{text}"
            );
        }
    }

    #[test]
    fn sign_rejects_non_object_claims() {
        assert!(matches!(
            sign("[1]", &secret("k"), None),
            Err(AuthError::InvalidOption(_))
        ));
    }

    // RFC 7515 A.2 (RS256) and A.3 (ES256) sign the same payload as A.1.
    const A1_PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    const A2_SIG: &str = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    // A.3's x, y, R||S are given in the RFC as byte arrays; these are their base64url.
    const A3_X: [u8; 32] = [
        127, 205, 206, 39, 112, 246, 196, 93, 65, 131, 203, 238, 111, 219, 75, 123, 88, 7, 51, 53,
        123, 233, 239, 19, 186, 207, 110, 60, 123, 209, 84, 69,
    ];
    const A3_Y: [u8; 32] = [
        199, 241, 68, 205, 27, 189, 155, 126, 135, 44, 223, 237, 185, 238, 185, 244, 179, 105, 93,
        110, 169, 11, 36, 173, 138, 70, 35, 40, 133, 136, 229, 173,
    ];
    const A3_SIG: &str =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    // RFC 8037 A.4: Ed25519 over a payload that is not JSON.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const ED_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

    /// Verify at the RFC examples' time (their exp is 1300819380), default options.
    fn at_rfc_time(token: &str, keys: &KeySet) -> Result<String> {
        verify(token, keys, &opts("{}"), 1_300_819_000.0, 0.0)
    }

    fn flip_last(token: &str) -> String {
        let mut t = token.to_string();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'Q' } else { 'A' });
        t
    }

    #[test]
    fn rfc7515_a2_rs256() {
        let keys =
            KeySet::from_json(&format!(r#"{{"kty":"RSA","n":"{A2_N}","e":"AQAB"}}"#)).unwrap();
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{A1_PAYLOAD}.{A2_SIG}");
        let payload = at_rfc_time(&token, &keys).unwrap();
        assert!(payload.starts_with("{\"iss\":\"joe\""));
        assert_eq!(
            reason(at_rfc_time(&flip_last(&token), &keys)),
            Reason::BadSignature
        );
        // the same key may not serve PS256 or HS256 for that signature
        let ps = format!("eyJhbGciOiJQUzI1NiJ9.{A1_PAYLOAD}.{A2_SIG}");
        assert_eq!(reason(at_rfc_time(&ps, &keys)), Reason::BadSignature);
        let hs = format!("eyJhbGciOiJIUzI1NiJ9.{A1_PAYLOAD}.{A2_SIG}");
        assert_eq!(reason(at_rfc_time(&hs, &keys)), Reason::AlgNotAllowed);
    }

    #[test]
    fn rfc7515_a3_es256_and_der_signatures() {
        let jwk = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            b64::encode(&A3_X),
            b64::encode(&A3_Y)
        );
        let keys = KeySet::from_json(&jwk).unwrap();
        let token = format!("eyJhbGciOiJFUzI1NiJ9.{A1_PAYLOAD}.{A3_SIG}");
        assert!(at_rfc_time(&token, &keys).is_ok());
        assert_eq!(
            reason(at_rfc_time(&flip_last(&token), &keys)),
            Reason::BadSignature
        );
        // the same R and S in DER (SEQUENCE of two INTEGERs) are refused
        let rs = b64::decode(A3_SIG).unwrap();
        let int = |v: &[u8]| {
            let mut i = if v[0] & 0x80 != 0 { vec![0] } else { vec![] };
            i.extend_from_slice(v);
            [vec![2, i.len() as u8], i].concat()
        };
        let body = [int(&rs[..32]), int(&rs[32..])].concat();
        let der = [vec![0x30, body.len() as u8], body].concat();
        let der_token = format!("eyJhbGciOiJFUzI1NiJ9.{A1_PAYLOAD}.{}", b64::encode(&der));
        assert_eq!(reason(at_rfc_time(&der_token, &keys)), Reason::BadSignature);
        // truncated
        let short = format!(
            "eyJhbGciOiJFUzI1NiJ9.{A1_PAYLOAD}.{}",
            b64::encode(&rs[..63])
        );
        assert_eq!(reason(at_rfc_time(&short, &keys)), Reason::BadSignature);
        // a P-256 key does not serve ES384
        let es384 = format!("eyJhbGciOiJFUzM4NCJ9.{A1_PAYLOAD}.{A3_SIG}");
        assert_eq!(reason(at_rfc_time(&es384, &keys)), Reason::AlgNotAllowed);
    }

    #[test]
    fn rfc7515_a4_es512_is_unsupported() {
        let jwk = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            b64::encode(&A3_X),
            b64::encode(&A3_Y)
        );
        let token = format!("eyJhbGciOiJFUzUxMiJ9.{A1_PAYLOAD}.{A3_SIG}");
        assert_eq!(
            reason(verify(
                &token,
                &KeySet::from_json(&jwk).unwrap(),
                &opts("{}"),
                0.0,
                0.0
            )),
            Reason::UnsupportedAlg
        );
    }

    #[test]
    fn rfc8037_a4_ed25519() {
        let keys =
            KeySet::from_json(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED_X}"}}"#)).unwrap();
        // The signature verifies; the payload is not JSON, so the token is malformed.
        assert_eq!(
            reason(verify(ED_TOKEN, &keys, &opts("{}"), 0.0, 0.0)),
            Reason::Malformed
        );
        assert_eq!(
            reason(verify(&flip_last(ED_TOKEN), &keys, &opts("{}"), 0.0, 0.0)),
            Reason::BadSignature
        );
    }
}
