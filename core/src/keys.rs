//! Keys as the contract reads them: HMAC secrets, PEM text, a JWK or a JWKS.
//!
//! The key's type fixes which algorithms it may serve ([`Family`]); nothing else does.
use crate::alg::{Alg, Family};
use crate::error::{AuthError, Result};
use crate::material::{Material, RsaPrivate};
use crate::{asym, b64, json};
use serde_json::{Map, Value};

/// What a key is allowed to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sign,
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AlgRule {
    /// No `alg` member: any algorithm of the key's family.
    Any,
    /// `alg` names a supported algorithm: only that one.
    Only(Alg),
    /// `alg` names an algorithm we do not support: the key serves nothing.
    Unsupported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub kid: Option<String>,
    alg: AlgRule,
    can_sign: bool,
    can_verify: bool,
    pub material: Material,
}

/// One key or a JWKS. `is_set` matters for kid matching: in a JWKS a token's kid must
/// name a key; a lone key ignores a token's kid unless both have one and they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    pub keys: Vec<Key>,
    pub is_set: bool,
}

impl Key {
    pub fn family(&self) -> Option<Family> {
        match &self.material {
            Material::Hmac(_) => Some(Family::Hmac),
            Material::Rsa { .. } => Some(Family::Rsa),
            Material::Ec { family, .. } => Some(*family),
            Material::Ed25519 { .. } => Some(Family::Ed25519),
            Material::Unusable { .. } => None,
        }
    }

    /// Whether this key may serve `alg` for `purpose`: same family, the JWK's own alg (if
    /// any) equal, and `use` / `key_ops` permitting it.
    pub fn serves(&self, alg: Alg, purpose: Purpose) -> bool {
        let allowed = match purpose {
            Purpose::Sign => self.can_sign,
            Purpose::Verify => self.can_verify,
        };
        let alg_ok = match self.alg {
            AlgRule::Any => true,
            AlgRule::Only(a) => a == alg,
            AlgRule::Unsupported => false,
        };
        allowed && alg_ok && self.family() == Some(alg.family())
    }

    /// The algorithm this key signs with when the caller names none.
    pub fn default_alg(&self) -> Option<Alg> {
        match self.alg {
            AlgRule::Only(a) => Some(a),
            AlgRule::Unsupported => None,
            AlgRule::Any => self.family().map(Family::default_alg),
        }
    }

    fn secret(bytes: Vec<u8>) -> Key {
        Key {
            kid: None,
            alg: AlgRule::Any,
            can_sign: true,
            can_verify: true,
            material: Material::Hmac(bytes),
        }
    }
}

impl KeySet {
    /// A `text` key, read the way PostgREST reads `jwt-secret`, plus PEM.
    pub fn from_text(text: &str) -> Result<KeySet> {
        if text.is_empty() {
            return Err(AuthError::InvalidKey("the secret is empty".into()));
        }
        if text.starts_with("-----BEGIN") {
            return Ok(KeySet {
                keys: vec![pem(text)?],
                is_set: false,
            });
        }
        if text.trim_start().starts_with('{') {
            if let Some(obj) = json::object(text) {
                if obj.contains_key("kty") || obj.contains_key("keys") {
                    return KeySet::from_object(&obj);
                }
            }
        }
        Ok(KeySet {
            keys: vec![Key::secret(text.as_bytes().to_vec())],
            is_set: false,
        })
    }

    /// A `jsonb` key: a JWK or a JWKS, as JSON text.
    pub fn from_json(text: &str) -> Result<KeySet> {
        match json::object(text) {
            Some(obj) => KeySet::from_object(&obj),
            None => Err(AuthError::InvalidKey(
                "a jsonb key must be a JWK or a JWKS object".into(),
            )),
        }
    }

    fn from_object(obj: &Map<String, Value>) -> Result<KeySet> {
        if obj.contains_key("kty") {
            let key = jwk(obj, None)?;
            if !key.understood() {
                return Err(AuthError::InvalidKey(format!(
                    "kty {} is not supported (oct, RSA, EC P-256/P-384, OKP Ed25519)",
                    key_type(obj)
                )));
            }
            return Ok(KeySet {
                keys: vec![key],
                is_set: false,
            });
        }
        let Some(Value::Array(list)) = obj.get("keys") else {
            return Err(AuthError::InvalidKey(
                "a JWK needs \"kty\" and a JWKS needs a \"keys\" array".into(),
            ));
        };
        if list.is_empty() {
            return Err(AuthError::InvalidKey("the JWKS has no keys".into()));
        }
        let keys = list
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                Value::Object(o) => jwk(o, Some(i)),
                _ => Err(AuthError::InvalidKey(format!(
                    "key {i} of the JWKS is not an object"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        // RFC 7517 section 5: members whose kty (or curve) is not understood are ignored
        let keys: Vec<Key> = keys.into_iter().filter(Key::understood).collect();
        if keys.is_empty() {
            return Err(AuthError::InvalidKey(
                "the JWKS has no usable key (kty oct, RSA, EC P-256/P-384, OKP Ed25519)".into(),
            ));
        }
        Ok(KeySet { keys, is_set: true })
    }

    /// The key to sign with: the first that can sign `alg`, or, with no alg named, the
    /// first that can sign at all (with its own default algorithm).
    pub fn signing_key(&self, alg: Option<Alg>) -> Result<(&Key, Alg)> {
        for key in &self.keys {
            let chosen = alg.or_else(|| key.default_alg());
            if let Some(a) = chosen {
                if key.serves(a, Purpose::Sign) {
                    return Ok((key, a));
                }
            }
        }
        Err(AuthError::InvalidKey(match alg {
            Some(a) => format!(
                "no key can sign {} (it needs {}, with a matching \"alg\" and use)",
                a.name(),
                a.family().describe()
            ),
            None => "no key can sign with a supported algorithm".into(),
        }))
    }
}

impl Key {
    /// Whether its kty (and curve) is one we implement.
    fn understood(&self) -> bool {
        !matches!(self.material, Material::Unusable { family: None })
    }
}

/// The kty of a JWK object as JSON text, for messages.
fn key_type(obj: &Map<String, Value>) -> String {
    obj.get("kty").map_or("null".into(), |v| v.to_string())
}

/// A PEM key (see [`asym::pem`]); a private key both signs and verifies.
fn pem(text: &str) -> Result<Key> {
    let material = asym::pem(text)?;
    Ok(Key {
        kid: None,
        alg: AlgRule::Any,
        can_sign: material.can_sign(),
        can_verify: true,
        material,
    })
}

fn jwk(obj: &Map<String, Value>, index: Option<usize>) -> Result<Key> {
    let kid = match obj.get("kid") {
        None => None,
        // A kid goes into the header of what the key signs, and a header is read as jsonb,
        // which cannot hold U+0000: a key must never sign what it cannot verify.
        Some(Value::String(s)) if s.contains('\0') => {
            return Err(key_error(index, None, "\"kid\" must not contain U+0000"))
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(key_error(index, None, "\"kid\" must be a string")),
    };
    let err = |what: &str| key_error(index, kid.as_deref(), what);
    let str_member = |name: &str| -> Result<Option<&str>> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(err(&format!("\"{name}\" must be a string"))),
        }
    };
    let alg = match str_member("alg")? {
        None => AlgRule::Any,
        Some(name) => Alg::from_name(name).map_or(AlgRule::Unsupported, AlgRule::Only),
    };
    let (mut can_sign, mut can_verify) = match str_member("use")? {
        Some("enc") => (false, false),
        _ => (true, true),
    };
    match obj.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) => {
            let has = |op: &str| ops.iter().any(|o| o.as_str() == Some(op));
            can_sign &= has("sign");
            can_verify &= has("verify");
        }
        Some(_) => return Err(err("\"key_ops\" must be an array")),
    }
    let material = match str_member("kty")? {
        Some("oct") => {
            let k = str_member("k")?.ok_or_else(|| err("an oct key needs \"k\""))?;
            // SECURITY: the error names the member, never its value.
            let bytes = b64::decode(k.trim_end_matches('='))
                .ok_or_else(|| err("\"k\" is not valid base64url"))?;
            if bytes.is_empty() {
                return Err(err("\"k\" is empty"));
            }
            Material::Hmac(bytes)
        }
        Some("RSA") => {
            let n = b64_member("n", &str_member("n")?, &err)?;
            let e = b64_member("e", &str_member("e")?, &err)?;
            let private = match str_member("d")? {
                None => None,
                Some(_) => {
                    if obj.contains_key("oth") {
                        return Err(err("multi-prime RSA keys are not supported"));
                    }
                    let m = |name: &str| b64_member(name, &str_member(name)?, &err);
                    Some(RsaPrivate {
                        d: m("d")?,
                        p: m("p")?,
                        q: m("q")?,
                        dp: m("dp")?,
                        dq: m("dq")?,
                        qi: m("qi")?,
                    })
                }
            };
            asym::rsa(n, e, private)
                .map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?
        }
        Some("EC") => {
            let family = match str_member("crv")? {
                Some("P-256") => Some(Family::EcP256),
                Some("P-384") => Some(Family::EcP384),
                _ => None,
            };
            match family {
                None => Material::Unusable { family: None },
                Some(f) => {
                    let mut point = vec![4u8];
                    point.extend(b64_member("x", &str_member("x")?, &err)?);
                    point.extend(b64_member("y", &str_member("y")?, &err)?);
                    let d = match str_member("d")? {
                        None => None,
                        Some(_) => Some(b64_member("d", &str_member("d")?, &err)?),
                    };
                    asym::ec(f, point, d)
                        .map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?
                }
            }
        }
        Some("OKP") => match str_member("crv")? {
            Some("Ed25519") => {
                let x = b64_member("x", &str_member("x")?, &err)?;
                let m = match str_member("d")? {
                    None => asym::ed25519(x, None),
                    Some(_) => {
                        asym::ed25519_from_seed(b64_member("d", &str_member("d")?, &err)?, Some(x))
                    }
                };
                m.map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?
            }
            _ => Material::Unusable { family: None },
        },
        Some(_) => Material::Unusable { family: None },
        None => return Err(err("\"kty\" is missing")),
    };
    Ok(Key {
        kid,
        alg,
        can_sign: can_sign && material.can_sign(),
        can_verify,
        material,
    })
}

/// A required base64url member of a JWK, decoded. SECURITY: errors name the member only.
fn b64_member(
    name: &str,
    value: &Option<&str>,
    err: &dyn Fn(&str) -> AuthError,
) -> Result<Vec<u8>> {
    let v = value.ok_or_else(|| err(&format!("\"{name}\" is missing")))?;
    b64::decode(v.trim_end_matches('='))
        .ok_or_else(|| err(&format!("\"{name}\" is not valid base64url")))
}

fn key_error(index: Option<usize>, kid: Option<&str>, what: &str) -> AuthError {
    let which = match (index, kid) {
        (Some(i), Some(k)) => format!("key {i} of the JWKS (kid {}): ", json::quote(k)),
        (Some(i), None) => format!("key {i} of the JWKS: "),
        (None, _) => String::new(),
    };
    AuthError::InvalidKey(format!("{which}{what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_secret_and_empty() {
        let ks = KeySet::from_text("my secret").unwrap();
        assert_eq!(ks.keys[0].material, Material::Hmac(b"my secret".to_vec()));
        assert!(ks.keys[0].serves(Alg::HS512, Purpose::Verify));
        assert!(!ks.keys[0].serves(Alg::RS256, Purpose::Verify));
        assert!(matches!(
            KeySet::from_text(""),
            Err(AuthError::InvalidKey(_))
        ));
        // a JSON object that is neither JWK nor JWKS is a secret, as in PostgREST
        let ks = KeySet::from_text("{\"a\":1}").unwrap();
        assert_eq!(ks.keys[0].material, Material::Hmac(b"{\"a\":1}".to_vec()));
    }

    #[test]
    fn small_rsa_keys_are_refused() {
        let jwk = |n: &[u8]| format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, b64::encode(n));
        let e = KeySet::from_json(&jwk(&[0xff; 128]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("under 2048 bits") && e.contains("1024"), "{e}");
        assert!(KeySet::from_json(&jwk(&[0x7f; 256])).is_err(), "2047 bits");
        assert!(KeySet::from_json(&jwk(&[0x80; 256])).is_ok(), "2048 bits");
        let mut padded = vec![0u8; 3];
        padded.extend([0x80; 256]);
        assert!(
            KeySet::from_json(&jwk(&padded)).is_ok(),
            "leading zeros do not count"
        );
    }

    #[test]
    fn pem_is_never_an_hmac_secret() {
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n";
        let ks = KeySet::from_text(pem).unwrap();
        for a in [Alg::HS256, Alg::HS384, Alg::HS512] {
            assert!(!ks.keys[0].serves(a, Purpose::Verify));
        }
        assert!(ks.keys[0].serves(Alg::ES256, Purpose::Verify));
        assert!(!ks.keys[0].serves(Alg::ES384, Purpose::Verify));
        assert!(
            KeySet::from_text("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
        assert!(KeySet::from_text("-----BEGIN FOO-----\n").is_err());
    }

    #[test]
    fn kty_not_understood() {
        // a lone JWK: an invalid key; in a JWKS: skipped (RFC 7517 section 5)
        for lone in [
            r#"{"kty":"XYZ","k":"c2VjcmV0"}"#,
            r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#,
            r#"{"kty":"OKP","crv":"X25519","x":"AA"}"#,
        ] {
            let e = KeySet::from_json(lone).unwrap_err().to_string();
            assert!(e.starts_with("invalid key: kty"), "{e}");
        }
        let set = KeySet::from_json(
            r#"{"keys":[{"kty":"XYZ","kid":"x"},{"kty":"oct","k":"YQ","kid":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid.as_deref(), Some("b"));
        let e =
            KeySet::from_json(r#"{"keys":[{"kty":"XYZ"},{"kty":"OKP","crv":"X448","x":"AA"}]}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("no usable key"), "{e}");
    }

    #[test]
    fn a_kid_with_nul_is_refused_when_read() {
        // fuzz/run.sh (key target): signed with such a kid, a token could not be verified
        for text in [
            r#"{"kty":"oct","k":"c2VjcmV0","kid":"a\u0000b"}"#,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"\u0000"}]}"#,
        ] {
            let e = KeySet::from_json(text).unwrap_err().to_string();
            assert!(e.contains("U+0000"), "{e}");
            assert!(KeySet::from_text(text).is_err());
        }
    }

    #[test]
    fn oct_jwk_and_jwks() {
        let ks =
            KeySet::from_json(r#"{"kty":"oct","k":"c2VjcmV0","kid":"a","alg":"HS384"}"#).unwrap();
        let k = &ks.keys[0];
        assert_eq!(k.material, Material::Hmac(b"secret".to_vec()));
        assert!(k.serves(Alg::HS384, Purpose::Verify));
        assert!(!k.serves(Alg::HS256, Purpose::Verify), "JWK alg must match");
        assert_eq!(k.default_alg(), Some(Alg::HS384));
        let set = KeySet::from_text(&format!(
            r#"{{"keys":[{{"kty":"oct","k":"YQ"}},{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
            b64::encode(&[0xc1; 256])
        ))
        .unwrap();
        assert!(set.is_set);
        assert_eq!(set.keys.len(), 2);
        assert!(!set.keys[1].serves(Alg::HS256, Purpose::Verify));
    }

    #[test]
    fn use_and_key_ops() {
        let enc = KeySet::from_json(r#"{"kty":"oct","k":"YQ","use":"enc"}"#).unwrap();
        assert!(!enc.keys[0].serves(Alg::HS256, Purpose::Verify));
        let sign_only = KeySet::from_json(r#"{"kty":"oct","k":"YQ","key_ops":["sign"]}"#).unwrap();
        assert!(!sign_only.keys[0].serves(Alg::HS256, Purpose::Verify));
        assert!(sign_only.keys[0].serves(Alg::HS256, Purpose::Sign));
        let unknown_alg = KeySet::from_json(r#"{"kty":"oct","k":"YQ","alg":"HS1"}"#).unwrap();
        assert!(!unknown_alg.keys[0].serves(Alg::HS256, Purpose::Verify));
    }

    #[test]
    fn bad_keys_name_the_key_not_the_material() {
        let e = KeySet::from_json(
            r#"{"keys":[{"kty":"oct","k":"YQ"},{"kty":"oct","k":"!!secret!!","kid":"b"}]}"#,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid key: key 1 of the JWKS (kid \"b\")"),
            "{msg}"
        );
        assert!(!msg.contains("secret"));
        assert!(KeySet::from_json(r#"{"keys":[]}"#).is_err());
        assert!(KeySet::from_json(r#"[1]"#).is_err());
        assert!(KeySet::from_json(r#"{"kty":"oct","k":""}"#).is_err());
        assert!(KeySet::from_json(r#"{"kty":"oct"}"#).is_err());
    }

    #[test]
    fn signing_key_choice() {
        let set = KeySet::from_json(r#"{"keys":[{"kty":"oct","k":"YQ","use":"enc"},{"kty":"oct","k":"Yg","kid":"b","alg":"HS512"}]}"#).unwrap();
        let (k, a) = set.signing_key(None).unwrap();
        assert_eq!((k.kid.as_deref(), a), (Some("b"), Alg::HS512));
        assert!(set.signing_key(Some(Alg::HS256)).is_err());
        assert!(set.signing_key(Some(Alg::RS256)).is_err());
    }

    /// Found by fuzzing: a private JWK whose parts do not belong together used to parse
    /// and fail only when signing. Now reading it fails, naming the problem.
    #[test]
    fn private_parts_must_match_the_public_key() {
        let fixture: Value = serde_json::from_str(crate::fuzz::KEYS_JSON).unwrap();
        let keys = fixture["keys"].as_array().unwrap();
        let (mut ec, mut rsa) = (keys[2].clone(), keys[1].clone());
        assert!(KeySet::from_json(&ec.to_string()).is_ok());
        ec["x"] = keys[2]["y"].clone();
        let err = KeySet::from_json(&ec.to_string()).unwrap_err();
        assert!(
            err.to_string().contains("does not match its public key"),
            "{err}"
        );
        assert!(KeySet::from_json(&rsa.to_string()).is_ok());
        rsa["dp"] = keys[1]["dq"].clone();
        let err = KeySet::from_json(&rsa.to_string()).unwrap_err();
        assert!(err.to_string().contains("do not belong together"), "{err}");
    }

    // ring-made PKCS#8 private keys, read as PEM text, sign and verify (asym.rs end to end).
    fn pem(label: &str, der: &[u8]) -> String {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).unwrap()
    }

    #[test]
    fn pkcs8_private_keys_sign_and_verify() {
        let rng = ring::rand::SystemRandom::new();
        let cases: [(&ring::signature::EcdsaSigningAlgorithm, Alg); 2] = [
            (
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                Alg::ES256,
            ),
            (
                &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                Alg::ES384,
            ),
        ];
        for (params, alg) in cases {
            let doc = ring::signature::EcdsaKeyPair::generate_pkcs8(params, &rng).unwrap();
            let keys = KeySet::from_text(&pem("PRIVATE KEY", doc.as_ref())).unwrap();
            let token = crate::jwt::sign(r#"{"a":1}"#, &keys, Some(alg)).unwrap();
            let opts = crate::claims::VerifyOptions::default();
            assert_eq!(
                crate::jwt::verify(&token, &keys, &opts, 0.0, 0.0).unwrap(),
                r#"{"a":1}"#
            );
            assert_eq!(
                b64::decode(token.rsplit('.').next().unwrap())
                    .unwrap()
                    .len(),
                if alg == Alg::ES256 { 64 } else { 96 }
            );
        }
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let keys = KeySet::from_text(&pem("PRIVATE KEY", doc.as_ref())).unwrap();
        let token = crate::jwt::sign("{}", &keys, Some(Alg::EdDSA)).unwrap();
        assert!(crate::jwt::verify(
            &token,
            &keys,
            &crate::claims::VerifyOptions::default(),
            0.0,
            0.0
        )
        .is_ok());
        // a public key cannot sign
        let public = Material::Ed25519 {
            public: vec![0; 32],
            seed: None,
        };
        assert!(crate::asym::sign(&public, Alg::EdDSA, b"x").is_err());
    }
}
