//! Keys as the contract reads them: HMAC secrets, PEM text, a JWK or a JWKS.
//!
//! The key's type fixes which algorithms it may serve ([`Family`]); nothing else does.
use crate::alg::{Alg, Family};
use crate::error::{AuthError, Result};
use crate::{b64, json};
use serde_json::{Map, Value};

/// What a key is allowed to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sign,
    Verify,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Material {
    /// The secret bytes of an HMAC key (a text secret or an oct JWK).
    Hmac(Vec<u8>),
    /// An RSA public key: modulus and exponent, big-endian, no leading zeros.
    RsaPublic { n: Vec<u8>, e: Vec<u8> },
    /// An EC public key as an uncompressed point (0x04 || x || y).
    EcPublic { family: Family, point: Vec<u8> },
    /// An Ed25519 public key.
    Ed25519Public(Vec<u8>),
    /// An asymmetric key that serves nothing here: a type or curve we do not support (an
    /// EC P-521 key, an X25519 key), or a private PEM (signing with asymmetric keys is not
    /// built yet). It is still never an HMAC secret.
    Unusable { family: Option<Family> },
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
            Material::RsaPublic { .. } => Some(Family::Rsa),
            Material::EcPublic { family, .. } => Some(*family),
            Material::Ed25519Public(_) => Some(Family::Ed25519),
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
            if let Ok(obj) = serde_json::from_str::<Map<String, Value>>(text) {
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
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => KeySet::from_object(&obj),
            _ => Err(AuthError::InvalidKey(
                "a jsonb key must be a JWK or a JWKS object".into(),
            )),
        }
    }

    fn from_object(obj: &Map<String, Value>) -> Result<KeySet> {
        if obj.contains_key("kty") {
            return Ok(KeySet {
                keys: vec![jwk(obj, None)?],
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

/// A PEM key: a public key (SPKI), an X.509 certificate's key, or a PKCS#1 RSA public key.
/// Private keys are recognised (so they are never HMAC secrets) but serve nothing yet.
fn pem(text: &str) -> Result<Key> {
    // SECURITY: errors name the label or the problem, never the key bytes.
    let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
        .map_err(|_| AuthError::InvalidKey("PEM text is not valid PEM".into()))?;
    let public = |material| Key {
        kid: None,
        alg: AlgRule::Any,
        can_sign: false,
        can_verify: true,
        material,
    };
    match label {
        "PUBLIC KEY" => Ok(public(spki_material(&der)?)),
        "CERTIFICATE" => {
            use x509_cert::der::{Decode, Encode};
            let cert = x509_cert::Certificate::from_der(&der)
                .map_err(|_| AuthError::InvalidKey("the certificate cannot be read".into()))?;
            let spki = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|_| {
                    AuthError::InvalidKey("the certificate's key cannot be read".into())
                })?;
            Ok(public(spki_material(&spki)?))
        }
        "RSA PUBLIC KEY" => Ok(public(rsa_pkcs1_public(&der)?)),
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => Ok(Key {
            kid: None,
            alg: AlgRule::Any,
            can_sign: false,
            can_verify: false,
            material: Material::Unusable { family: None },
        }),
        other => Err(AuthError::InvalidKey(format!(
            "unsupported PEM label {}",
            json::quote(other)
        ))),
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

/// The key of a DER SubjectPublicKeyInfo.
fn spki_material(der: &[u8]) -> Result<Material> {
    use spki::der::Decode;
    let bad = || AuthError::InvalidKey("the public key (SPKI) cannot be read".into());
    let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| bad())?;
    let bits = spki.subject_public_key.as_bytes().ok_or_else(bad)?;
    match spki.algorithm.oid.to_string().as_str() {
        OID_RSA => rsa_pkcs1_public(bits),
        OID_EC => {
            let curve = spki.algorithm.parameters_oid().map(|o| o.to_string()).ok();
            match curve.as_deref() {
                Some(OID_P256) => ec_point(Family::EcP256, bits.to_vec()),
                Some(OID_P384) => ec_point(Family::EcP384, bits.to_vec()),
                _ => Ok(Material::Unusable { family: None }),
            }
        }
        OID_ED25519 => ed25519(bits.to_vec()),
        _ => Ok(Material::Unusable { family: None }),
    }
}

/// A PKCS#1 RSAPublicKey.
fn rsa_pkcs1_public(der: &[u8]) -> Result<Material> {
    use pkcs1::der::Decode;
    let k = pkcs1::RsaPublicKey::from_der(der)
        .map_err(|_| AuthError::InvalidKey("the RSA public key cannot be read".into()))?;
    rsa(
        k.modulus.as_bytes().to_vec(),
        k.public_exponent.as_bytes().to_vec(),
    )
}

/// Smallest RSA modulus accepted (RFC 7518 section 3.3: 2048 bits or larger).
pub const MIN_RSA_BITS: usize = 2048;

fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<Material> {
    let strip = |v: Vec<u8>| {
        v.iter()
            .position(|b| *b != 0)
            .map(|i| v[i..].to_vec())
            .unwrap_or_default()
    };
    let (n, e) = (strip(n), strip(e));
    let bits = n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if bits < MIN_RSA_BITS {
        return Err(AuthError::InvalidKey(format!(
            "RSA keys under {MIN_RSA_BITS} bits are refused (this one has {bits})"
        )));
    }
    if e.is_empty() {
        return Err(AuthError::InvalidKey("the RSA exponent is zero".into()));
    }
    Ok(Material::RsaPublic { n, e })
}

fn ec_point(family: Family, point: Vec<u8>) -> Result<Material> {
    let coord = if family == Family::EcP256 { 32 } else { 48 };
    if point.len() != 1 + 2 * coord || point[0] != 4 {
        return Err(AuthError::InvalidKey(
            "the EC public key must be an uncompressed point of its curve".into(),
        ));
    }
    Ok(Material::EcPublic { family, point })
}

fn ed25519(key: Vec<u8>) -> Result<Material> {
    if key.len() != 32 {
        return Err(AuthError::InvalidKey(
            "an Ed25519 public key is 32 bytes".into(),
        ));
    }
    Ok(Material::Ed25519Public(key))
}

fn jwk(obj: &Map<String, Value>, index: Option<usize>) -> Result<Key> {
    let kid = match obj.get("kid") {
        None => None,
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
            // Signing with asymmetric keys is not built yet: a private JWK only verifies.
            can_sign = false;
            rsa(n, e).map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?
        }
        Some("EC") => {
            can_sign = false;
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
                    ec_point(f, point)
                        .map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?
                }
            }
        }
        Some("OKP") => {
            can_sign = false;
            match str_member("crv")? {
                Some("Ed25519") => ed25519(b64_member("x", &str_member("x")?, &err)?)
                    .map_err(|e| err(&e.to_string().replacen("invalid key: ", "", 1)))?,
                _ => Material::Unusable { family: None },
            }
        }
        Some(_) => Material::Unusable { family: None },
        None => return Err(err("\"kty\" is missing")),
    };
    Ok(Key {
        kid,
        alg,
        can_sign,
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
}
