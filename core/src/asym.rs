//! Asymmetric keys (RSA, EC P-256/P-384, Ed25519): reading them from PEM/DER and JWK
//! members, and signing and verifying with ring. The key material is kept as plain bytes;
//! ring's key objects are made at use.
//!
//! SECURITY: no error here carries key bytes; ring's own rejection texts are static.
use crate::alg::{Alg, Family};
use crate::error::{AuthError, Result};
use crate::material::{Material, RsaPrivate};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair};

/// Smallest RSA modulus accepted (RFC 7518 section 3.3: 2048 bits or larger).
pub const MIN_RSA_BITS: usize = 2048;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

fn bad(what: &str) -> AuthError {
    AuthError::InvalidKey(what.into())
}

/// A PEM key: public (SPKI, X.509 certificate, PKCS#1) or private (PKCS#8, PKCS#1, SEC1).
pub fn pem(text: &str) -> Result<Material> {
    let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
        .map_err(|_| bad("PEM text is not valid PEM"))?;
    match label {
        "PUBLIC KEY" => spki(&der),
        "CERTIFICATE" => {
            use x509_cert::der::{Decode, Encode};
            let cert = x509_cert::Certificate::from_der(&der)
                .map_err(|_| bad("the certificate cannot be read"))?;
            let spki_der = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|_| bad("the certificate's key cannot be read"))?;
            spki(&spki_der)
        }
        "RSA PUBLIC KEY" => rsa_pkcs1_public(&der),
        "RSA PRIVATE KEY" => rsa_pkcs1_private(&der),
        "EC PRIVATE KEY" => ec_sec1(&der, None),
        "PRIVATE KEY" => pkcs8(&der),
        "ENCRYPTED PRIVATE KEY" => Err(bad("encrypted private keys are not supported")),
        other => Err(AuthError::InvalidKey(format!(
            "unsupported PEM label {}",
            crate::json::quote(other)
        ))),
    }
}

fn curve(oid: Option<String>) -> Option<Family> {
    match oid.as_deref() {
        Some(OID_P256) => Some(Family::EcP256),
        Some(OID_P384) => Some(Family::EcP384),
        _ => None,
    }
}

/// The key of a DER SubjectPublicKeyInfo.
fn spki(der: &[u8]) -> Result<Material> {
    use spki::der::Decode;
    let e = || bad("the public key (SPKI) cannot be read");
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| e())?;
    let bits = info.subject_public_key.as_bytes().ok_or_else(e)?;
    match info.algorithm.oid.to_string().as_str() {
        OID_RSA => rsa_pkcs1_public(bits),
        OID_EC => match curve(info.algorithm.parameters_oid().ok().map(|o| o.to_string())) {
            Some(f) => ec(f, bits.to_vec(), None),
            None => Ok(Material::Unusable { family: None }),
        },
        OID_ED25519 => ed25519(bits.to_vec(), None),
        _ => Ok(Material::Unusable { family: None }),
    }
}

/// A DER PKCS#8 PrivateKeyInfo (unencrypted).
fn pkcs8(der: &[u8]) -> Result<Material> {
    use pkcs8::der::Decode;
    let info = pkcs8::PrivateKeyInfo::from_der(der)
        .map_err(|_| bad("the private key (PKCS#8) cannot be read"))?;
    match info.algorithm.oid.to_string().as_str() {
        OID_RSA => rsa_pkcs1_private(info.private_key),
        OID_EC => {
            let f = curve(info.algorithm.parameters_oid().ok().map(|o| o.to_string()));
            match f {
                Some(f) => ec_sec1(info.private_key, Some(f)),
                None => Ok(Material::Unusable { family: None }),
            }
        }
        OID_ED25519 => {
            // CurvePrivateKey ::= OCTET STRING, inside the privateKey OCTET STRING
            let seed = pkcs8::der::asn1::OctetStringRef::from_der(info.private_key)
                .map_err(|_| bad("the Ed25519 private key cannot be read"))?;
            ed25519_from_seed(seed.as_bytes().to_vec(), None)
        }
        _ => Ok(Material::Unusable { family: None }),
    }
}

fn rsa_pkcs1_public(der: &[u8]) -> Result<Material> {
    use pkcs1::der::Decode;
    let k =
        pkcs1::RsaPublicKey::from_der(der).map_err(|_| bad("the RSA public key cannot be read"))?;
    rsa(
        k.modulus.as_bytes().to_vec(),
        k.public_exponent.as_bytes().to_vec(),
        None,
    )
}

fn rsa_pkcs1_private(der: &[u8]) -> Result<Material> {
    use pkcs1::der::Decode;
    let k = pkcs1::RsaPrivateKey::from_der(der)
        .map_err(|_| bad("the RSA private key cannot be read"))?;
    if k.other_prime_infos.is_some() {
        return Err(bad("multi-prime RSA keys are not supported"));
    }
    let v = |u: pkcs1::UintRef| u.as_bytes().to_vec();
    let private = RsaPrivate {
        d: v(k.private_exponent),
        p: v(k.prime1),
        q: v(k.prime2),
        dp: v(k.exponent1),
        dq: v(k.exponent2),
        qi: v(k.coefficient),
    };
    rsa(v(k.modulus), v(k.public_exponent), Some(private))
}

/// A DER SEC1 ECPrivateKey; `family` from the PKCS#8 wrapper when there is one.
fn ec_sec1(der: &[u8], family: Option<Family>) -> Result<Material> {
    use sec1::der::Decode;
    let k =
        sec1::EcPrivateKey::from_der(der).map_err(|_| bad("the EC private key cannot be read"))?;
    let own = k
        .parameters
        .and_then(|p| p.named_curve())
        .map(|o| o.to_string());
    let family = match (family, curve(own)) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => return Ok(Material::Unusable { family: None }),
    };
    let point = k
        .public_key
        .ok_or_else(|| bad("the EC private key must include its public key"))?
        .to_vec();
    ec(family, point, Some(k.private_key.to_vec()))
}

/// Strip leading zero bytes (JWK and DER integers may carry them).
fn unsigned(v: Vec<u8>) -> Vec<u8> {
    v.iter()
        .position(|b| *b != 0)
        .map(|i| v[i..].to_vec())
        .unwrap_or_default()
}

pub fn rsa(n: Vec<u8>, e: Vec<u8>, private: Option<RsaPrivate>) -> Result<Material> {
    let (n, e) = (unsigned(n), unsigned(e));
    let bits = n.first().map_or(0, |top| {
        (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    });
    if bits < MIN_RSA_BITS {
        return Err(AuthError::InvalidKey(format!(
            "RSA keys under {MIN_RSA_BITS} bits are refused (this one has {bits})"
        )));
    }
    if e.is_empty() {
        return Err(bad("the RSA exponent is zero"));
    }
    if let Some(p) = &private {
        // Checked once here (the parsed key is cached), so a bad key fails when read.
        // ring checks dP and dQ only when signing (it verifies each result), so sign once.
        let consistent = rsa_pair(&n, &e, p).is_ok_and(|pair| {
            let mut out = vec![0; pair.public().modulus_len()];
            pair.sign(
                &sig::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                b"check",
                &mut out,
            )
            .is_ok()
        });
        if !consistent {
            return Err(bad(
                "the RSA private key's parts do not belong together or to its public key",
            ));
        }
    }
    Ok(Material::Rsa { n, e, private })
}

fn rsa_pair(
    n: &[u8],
    e: &[u8],
    p: &RsaPrivate,
) -> std::result::Result<sig::RsaKeyPair, ring::error::KeyRejected> {
    sig::RsaKeyPair::from_components(&ring::rsa::KeyPairComponents {
        public_key: ring::rsa::PublicKeyComponents { n, e },
        d: p.d.as_slice(),
        p: p.p.as_slice(),
        q: p.q.as_slice(),
        dP: p.dp.as_slice(),
        dQ: p.dq.as_slice(),
        qInv: p.qi.as_slice(),
    })
}

fn ec_pair(
    family: Family,
    d: &[u8],
    point: &[u8],
) -> std::result::Result<sig::EcdsaKeyPair, ring::error::KeyRejected> {
    let params = match family {
        Family::EcP256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        _ => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
    };
    sig::EcdsaKeyPair::from_private_key_and_public_key(params, d, point, &SystemRandom::new())
}

pub fn ec(family: Family, point: Vec<u8>, d: Option<Vec<u8>>) -> Result<Material> {
    let size = if family == Family::EcP256 { 32 } else { 48 };
    if point.len() != 1 + 2 * size || point[0] != 4 {
        return Err(bad(
            "the EC public key must be an uncompressed point of its curve",
        ));
    }
    // A scalar may come shorter (leading zeros dropped); ring wants it at full width.
    let d = match d {
        Some(d) if d.len() > size => {
            return Err(bad("the EC private key is longer than its curve"))
        }
        Some(d) => Some([vec![0; size - d.len()], d].concat()),
        None => None,
    };
    if let Some(d) = &d {
        ec_pair(family, d, &point)
            .map_err(|_| bad("the EC private key does not match its public key"))?;
    }
    Ok(Material::Ec { family, point, d })
}

pub fn ed25519(public: Vec<u8>, seed: Option<Vec<u8>>) -> Result<Material> {
    if public.len() != 32 {
        return Err(bad("an Ed25519 public key is 32 bytes"));
    }
    if let Some(s) = &seed {
        sig::Ed25519KeyPair::from_seed_and_public_key(s, &public)
            .map_err(|_| bad("the Ed25519 private key does not match its public key"))?;
    }
    Ok(Material::Ed25519 { public, seed })
}

/// An Ed25519 key from its 32-byte seed, the public key derived (or checked when given).
pub fn ed25519_from_seed(seed: Vec<u8>, public: Option<Vec<u8>>) -> Result<Material> {
    let pair = sig::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|_| bad("an Ed25519 private key is a 32-byte seed"))?;
    let derived = pair.public_key().as_ref().to_vec();
    if public.is_some_and(|p| p != derived) {
        return Err(bad("the Ed25519 private key does not match its public key"));
    }
    ed25519(derived, Some(seed))
}

/// Whether `material` verifies `signature` over `input` with `alg` (its family checked by
/// the caller). ES signatures must be raw R||S of the curve's size (RFC 7518 3.4): DER fails.
pub fn verify(material: &Material, alg: Alg, input: &[u8], signature: &[u8]) -> bool {
    match material {
        Material::Rsa { n, e, .. } => {
            let params: &sig::RsaParameters = match alg {
                Alg::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Alg::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Alg::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                Alg::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                Alg::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
                Alg::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
                _ => return false,
            };
            sig::RsaPublicKeyComponents { n, e }
                .verify(params, input, signature)
                .is_ok()
        }
        Material::Ec { point, .. } => {
            let params = match alg {
                Alg::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
                Alg::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
                _ => return false,
            };
            sig::UnparsedPublicKey::new(params, point)
                .verify(input, signature)
                .is_ok()
        }
        Material::Ed25519 { public, .. } => {
            alg == Alg::EdDSA
                && sig::UnparsedPublicKey::new(&sig::ED25519, public)
                    .verify(input, signature)
                    .is_ok()
        }
        Material::Hmac(_) | Material::Unusable { .. } => false,
    }
}

/// Sign `input` with `alg` (its family checked by the caller). ECDSA and RSA-PSS draw
/// from the OS CSPRNG.
pub fn sign(material: &Material, alg: Alg, input: &[u8]) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let rejected = |e: ring::error::KeyRejected| {
        AuthError::InvalidKey(format!("the private key was rejected ({e})"))
    };
    let no_private = || bad("this key has no private part to sign with");
    match material {
        Material::Rsa { n, e, private } => {
            let p = private.as_ref().ok_or_else(no_private)?;
            let pair = rsa_pair(n, e, p).map_err(rejected)?;
            let padding: &dyn sig::RsaEncoding = match alg {
                Alg::RS256 => &sig::RSA_PKCS1_SHA256,
                Alg::RS384 => &sig::RSA_PKCS1_SHA384,
                Alg::RS512 => &sig::RSA_PKCS1_SHA512,
                Alg::PS256 => &sig::RSA_PSS_SHA256,
                Alg::PS384 => &sig::RSA_PSS_SHA384,
                Alg::PS512 => &sig::RSA_PSS_SHA512,
                _ => return Err(bad("an RSA key signs only RS* and PS* algorithms")),
            };
            let mut out = vec![0; pair.public().modulus_len()];
            pair.sign(padding, &rng, input, &mut out)
                .map_err(|_| bad("RSA signing failed"))?;
            Ok(out)
        }
        Material::Ec { family, point, d } => {
            let d = d.as_ref().ok_or_else(no_private)?;
            if alg.family() != *family {
                return Err(bad("an EC key signs only its curve's ES algorithm"));
            }
            let pair = ec_pair(*family, d, point).map_err(rejected)?;
            Ok(pair
                .sign(&rng, input)
                .map_err(|_| bad("ECDSA signing failed"))?
                .as_ref()
                .to_vec())
        }
        Material::Ed25519 { public, seed } => {
            let seed = seed.as_ref().ok_or_else(no_private)?;
            let pair =
                sig::Ed25519KeyPair::from_seed_and_public_key(seed, public).map_err(rejected)?;
            Ok(pair.sign(input).as_ref().to_vec())
        }
        Material::Hmac(_) | Material::Unusable { .. } => {
            Err(bad("this key cannot sign asymmetrically"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;

    #[test]
    fn rfc8037_a4_signature_is_reproduced() {
        let d = b64::decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
        let x = b64::decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let key = ed25519_from_seed(d, Some(x)).unwrap();
        let input = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let signature = sign(&key, Alg::EdDSA, input).unwrap();
        assert_eq!(
            b64::encode(&signature),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        // a seed that does not match the given public key is refused
        let other = b64::decode("21qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        let d = b64::decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
        assert!(ed25519_from_seed(d, Some(other)).is_err());
    }
}
