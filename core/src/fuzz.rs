//! Fuzz harnesses: each takes arbitrary bytes and panics only when a property of the
//! parsers or the verify path is broken. Driven by libFuzzer from `fuzz/` (see
//! `fuzz/run.sh`), and replayed over `testdata/fuzz/` by the unit tests, so an input that
//! once broke something stays a regression test.
//!
//! Properties checked besides "no panic, no hang":
//! - a token we accept is canonical (every segment re-encodes to itself) and jwt_decode
//!   sees the same payload;
//! - an accepted token's header names the algorithm it was signed with, and its exp / nbf
//!   hold at the time of the check;
//! - no error message or detail contains a token, its signing input, a secret or a private
//!   key member;
//! - a key that parses and can sign produces a token that the same key verifies;
//! - the jsonb parser accepts exactly what serde_json accepts (where both rules apply).
use crate::alg::Alg;
use crate::claims::VerifyOptions;
use crate::keys::{Key, KeySet, Purpose};
use crate::{b64, json, jwt, AuthError};
use std::sync::OnceLock;

/// The harness's fixed test keys (oct, RSA 2048, EC P-256, Ed25519 with private parts),
/// made by testdata/make_fuzz_keys.py. Test-only: they sign nothing real.
pub const KEYS_JSON: &str = include_str!("../testdata/fuzz_keys.json");
const NOW: f64 = 1_700_000_000.0;
const LEEWAY: f64 = 30.0;

struct Fixture {
    /// All four keys as one JWKS (private parts included: they verify too).
    jwks: KeySet,
    /// The oct secret as a text key; the Ed25519 key alone.
    secret: KeySet,
    single: KeySet,
    /// Strings that must never appear in a message: the secret and private members.
    secrets: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(KEYS_JSON).expect("fixture JSON");
        let jwks = KeySet::from_json(KEYS_JSON).expect("fixture keys");
        let keys = v["keys"].as_array().expect("keys");
        let k = keys[0]["k"].as_str().expect("oct k");
        let raw = String::from_utf8(b64::decode(k).expect("b64")).expect("ascii secret");
        let mut secrets = vec![raw.clone()];
        for key in keys {
            for m in ["k", "d", "p", "q", "dp", "dq", "qi"] {
                if let Some(s) = key[m].as_str() {
                    secrets.push(s.to_owned());
                }
            }
        }
        Fixture {
            jwks,
            secret: KeySet::from_text(&raw).expect("secret"),
            single: KeySet::from_json(&keys[3].to_string()).expect("ed25519"),
            secrets,
        }
    })
}

/// No message or detail of `e` may contain `token` or its signing input (when long enough
/// to be one), or a secret.
fn assert_discreet(e: &AuthError, token: &str, secrets: &[String]) {
    let text = match e {
        AuthError::Token { reason, detail } => format!("{reason} {detail}"),
        other => other.to_string(),
    };
    // The signing input (header.payload) is the token but for its signature. A header
    // cannot contain its own encoding, so no claim or kid the message may quote can match
    // it; a long enough one found in a message means token bytes leaked into it.
    let signing_input = token.rsplit_once('.').map_or(token, |(input, _)| input);
    let b64ish = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    for t in [token, signing_input] {
        // (prose made to look like our own message is not token material)
        if t.len() >= 16 && b64ish(t) {
            assert!(!text.contains(t), "message contains the token: {text}");
        }
    }
    // A secret the token itself carries (a kid made equal to one, say) may be quoted back.
    let carried: String = token
        .split('.')
        .filter_map(b64::decode)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    for s in secrets
        .iter()
        .filter(|s| s.len() >= 8 && !carried.contains(s.as_str()))
    {
        assert!(
            !text.contains(s.as_str()),
            "message contains a secret: {text}"
        );
    }
}

/// A dummy numeric for jsonb encoding: any bytes will do for "does not panic".
fn numeric(t: &str) -> Option<Vec<u8>> {
    Some(t.as_bytes().to_vec())
}

/// Verify `token`; on success check it is canonical and decodes to the same payload.
fn verify_checked(token: &str, keys: &KeySet, opts: &VerifyOptions) -> Option<String> {
    let f = fixture();
    let r = jwt::verify_with(token, keys, opts, NOW, LEEWAY, |tree, text| {
        let _ = tree.encode(&mut numeric);
        text.to_owned()
    });
    let decoded = jwt::decode_with(token, |tree, json| {
        let _ = tree.encode(&mut numeric);
        assert_ne!(
            serde_accepts(json.as_bytes()),
            Some(false),
            "decode gives JSON"
        );
        json.to_owned()
    });
    if let Err(e) = &decoded {
        assert_discreet(e, token, &f.secrets);
    }
    match r {
        Ok(payload) => {
            for seg in token.split('.') {
                let bytes = b64::decode(seg).expect("accepted segments decode");
                assert_eq!(b64::encode(&bytes), seg, "accepted a non-canonical segment");
            }
            let both = decoded.expect("an accepted token decodes");
            let tail = format!(",\"payload\":{payload}}}");
            assert!(both.ends_with(&tail), "decode and verify disagree");
            Some(payload)
        }
        Err(e) => {
            assert_discreet(&e, token, &f.secrets);
            None
        }
    }
}

/// Arbitrary bytes as a token, verified against one of three key sets.
pub fn token(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(token) = std::str::from_utf8(rest) else {
        return;
    };
    let f = fixture();
    let keys = [&f.jwks, &f.secret, &f.single][usize::from(sel) % 3];
    verify_checked(token, keys, &VerifyOptions::default());
}

/// Arbitrary header and payload bytes (and options), correctly signed, then verified: this
/// reaches the header and claim checks that random tokens never get past the signature to.
/// Layout: selector byte, header, 0xFF, payload [, 0xFF, options JSON].
pub fn claims(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0xFF);
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return;
    };
    let opts = parts
        .next()
        .and_then(|o| std::str::from_utf8(o).ok())
        .and_then(|o| VerifyOptions::from_json(o).ok())
        .unwrap_or_default();
    let f = fixture();
    // oct, EC, Ed25519: RSA signing would slow every run a hundredfold.
    let key: &Key = &f.jwks.keys[[0, 2, 3][usize::from(sel) % 3]];
    let alg = key.default_alg().expect("fixture keys sign");
    let input = format!("{}.{}", b64::encode(header), b64::encode(payload));
    let signature = jwt::sign_input(key, alg, input.as_bytes()).expect("fixture keys sign");
    let token = format!("{input}.{}", b64::encode(&signature));
    let Some(text) = verify_checked(&token, &f.jwks, &opts) else {
        return;
    };
    assert_eq!(text.as_bytes(), payload);
    let h = json::parse(header).expect("an accepted header is JSON");
    let named = h.get("alg").and_then(|a| a.as_str());
    assert_eq!(
        named,
        Some(alg.name()),
        "accepted a header naming another alg"
    );
    let p = json::parse(payload).expect("an accepted payload is JSON");
    let now = opts.now.unwrap_or(NOW);
    let leeway = opts.leeway.unwrap_or(LEEWAY);
    if let Some(exp) = p.get("exp").and_then(|v| v.as_f64()) {
        assert!(now < exp + leeway, "accepted an expired token");
    }
    if let Some(nbf) = p.get("nbf").and_then(|v| v.as_f64()) {
        assert!(now >= nbf - leeway, "accepted a token before nbf");
    }
}

/// Arbitrary text as a key (text form and jsonb form). A key that parses and can sign
/// must verify its own token; errors must not repeat private members.
pub fn key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (private, public) = members(text);
    // a private value the input also wrote into a public member (a kid) may be quoted back
    let private: Vec<String> = private
        .into_iter()
        .filter(|p| !public.iter().any(|s| s.contains(p.as_str())))
        .collect();
    for parsed in [KeySet::from_text(text), KeySet::from_json(text)] {
        match parsed {
            Err(e) => assert_discreet(&e, "", &private),
            Ok(keys) => round_trip(&keys),
        }
    }
}

/// (private, public): the string values of private JWK members anywhere in `text` (if it is
/// JSON) and PEM body lines; and every other string of the JSON, member names included.
fn members(text: &str) -> (Vec<String>, Vec<String>) {
    type Out = (Vec<String>, Vec<String>);
    fn walk(v: &serde_json::Value, out: &mut Out) {
        match v {
            serde_json::Value::Object(o) => {
                for (name, val) in o {
                    out.1.push(name.clone());
                    match (name.as_str(), val) {
                        (
                            "k" | "d" | "p" | "q" | "dp" | "dq" | "qi",
                            serde_json::Value::String(s),
                        ) => out.0.push(s.clone()),
                        _ => walk(val, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::String(s) => out.1.push(s.clone()),
            _ => {}
        }
    }
    let mut out = (Vec::new(), Vec::new());
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        walk(&v, &mut out);
    }
    if text.starts_with("-----BEGIN") {
        out.0.extend(
            text.lines()
                .filter(|l| l.len() >= 16)
                .filter(|l| {
                    l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
                })
                .map(str::to_owned),
        );
    }
    out
}

fn round_trip(keys: &KeySet) {
    for key in &keys.keys {
        let Some(alg) = key.default_alg() else {
            continue;
        };
        let both = key.serves(alg, Purpose::Sign) && key.serves(alg, Purpose::Verify);
        if !both || !key.material.can_sign() || alg.family() == crate::alg::Family::Rsa {
            continue; // RSA signing is too slow for a fuzz loop; its vectors are unit tests
        }
        let one = KeySet {
            keys: vec![key.clone()],
            is_set: false,
        };
        let token = jwt::sign("{\"sub\":\"x\"}", &one, Some(alg)).expect("a signing key signs");
        jwt::verify(&token, &one, &VerifyOptions::default(), NOW, LEEWAY)
            .expect("a key verifies its own token");
    }
}

/// serde_json's verdict on a document (a full Value parse), where our rules are meant to
/// agree with it; None where they are not (serde refuses numbers beyond f64, we keep them
/// as jsonb does).
pub fn serde_accepts(s: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<serde_json::Value>(s) {
        Ok(_) => Some(true),
        Err(e) if e.to_string().contains("number out of range") => None,
        Err(_) => Some(false),
    }
}

/// The jsonb parser accepts exactly what serde_json accepts, past the prescan (depth and
/// `\u0000`, where jsonb is stricter on purpose).
pub fn json(s: &[u8]) {
    if crate::json::prescan(s).is_err() {
        return;
    }
    if let Some(want) = serde_accepts(s) {
        assert_eq!(
            json::parse(s).is_some(),
            want,
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }
    if let Some(mut tree) = json::parse(s) {
        let _ = tree.encode(&mut numeric);
    }
}

/// Starting inputs for each harness: well-formed tokens, headers, payloads and keys, so
/// that fuzzing begins past the parsers' front doors.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let f = fixture();
    let payload = r#"{"aud":"authenticated","exp":1999999999,"iat":1700000000,"iss":"https://x.supabase.co/auth/v1","sub":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","email":"u@example.com","app_metadata":{"provider":"email","providers":["email"]},"role":"authenticated","amr":[{"method":"password","timestamp":1700000000}],"is_anonymous":false,"n":-1.5e-3}"#;
    let mut out = Vec::new();
    for key in &f.jwks.keys {
        let one = KeySet {
            keys: vec![key.clone()],
            is_set: false,
        };
        let token = jwt::sign(payload, &one, None).expect("fixture keys sign");
        out.push(("token", [&[0u8][..], token.as_bytes()].concat()));
        out.push(("key", serde_json::to_vec(&jwk_of(key)).expect("json")));
    }
    let hs = jwt::sign(payload, &f.secret, Some(Alg::HS384)).expect("sign");
    out.push(("token", [&[1u8][..], hs.as_bytes()].concat()));
    out.push(("key", KEYS_JSON.as_bytes().to_vec()));
    for (sel, header) in [
        (0u8, r#"{"alg":"HS256","typ":"JWT","kid":"hs1"}"#),
        (1, r#"{"alg":"ES256","kid":"ec1"}"#),
        (2, r#"{"alg":"EdDSA","crit":["b64"],"b64":false}"#),
    ] {
        let mut c = vec![sel];
        c.extend_from_slice(header.as_bytes());
        c.push(0xFF);
        c.extend_from_slice(payload.as_bytes());
        out.push(("claims", c.clone()));
        c.push(0xFF);
        c.extend_from_slice(br#"{"aud":["authenticated"],"iss":"https://x.supabase.co/auth/v1","require":["sub","exp"],"leeway":0}"#);
        out.push(("claims", c));
    }
    out.push(("json", payload.as_bytes().to_vec()));
    out
}

/// The fixture JWK (by position) for a parsed key, for the key harness's seeds.
fn jwk_of(key: &Key) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(KEYS_JSON).expect("fixture JSON");
    v["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"].as_str() == key.kid.as_deref())
        .cloned()
        .expect("every fixture key has a kid")
}

/// Which harness a regression file belongs to, by its directory name.
pub fn by_name(target: &str) -> Option<fn(&[u8])> {
    Some(match target {
        "token" => token,
        "claims" => claims,
        "key" => key,
        "json" => json,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under testdata/fuzz/<target>/ (inputs that once failed, and seeds)
    /// still passes its harness.
    #[test]
    fn regressions_replay() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz");
        let mut n = 0;
        for dir in std::fs::read_dir(&root).expect("testdata/fuzz") {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
            let run = by_name(&name).unwrap_or_else(|| panic!("unknown target {name}"));
            for file in std::fs::read_dir(&dir).unwrap() {
                run(&std::fs::read(file.unwrap().path()).unwrap());
                n += 1;
            }
        }
        for (target, data) in seeds() {
            by_name(target).expect("seed target")(&data);
            n += 1;
        }
        assert!(n > 12, "seeds and regression inputs replayed");
    }

    #[test]
    fn harness_accepts_good_tokens_and_catches_leaks() {
        let f = fixture();
        // a correctly signed token passes every harness check
        let mut data = vec![0u8];
        data.extend_from_slice(br#"{"alg":"HS256","typ":"JWT"}"#);
        data.push(0xFF);
        data.extend_from_slice(br#"{"sub":"x","exp":1700000100}"#);
        claims(&data);
        let token = jwt::sign("{\"a\":1}", &f.secret, Some(Alg::HS256)).unwrap();
        assert!(verify_checked(&token, &f.jwks, &VerifyOptions::default()).is_some());
        // the leak check is live: a message quoting a secret fails it
        let leak = AuthError::InvalidKey(format!("bad {}", f.secrets[0]));
        let caught = std::panic::catch_unwind(|| assert_discreet(&leak, "", &f.secrets));
        assert!(caught.is_err());
    }
}
