//! Native floors for the asymmetric benchmark, over the same tokens as the SQL run:
//! 1. ring's own verify of each token's signature (the crypto backend's floor), and
//! 2. auth_core::jwt::verify with the JWKS parsed once (what the SQL function runs per call).
//!
//! Usage: asym_floor <tokens-file> <public-jwks-file> <ES256|RS256>
//! Prints "<ring us/call> <auth_core us/call>", each the best of 10 passes, the two
//! alternating so that the machine's drift hits both alike.
use auth_core::claims::VerifyOptions;
use auth_core::keys::KeySet;
use auth_core::material::Material;
use auth_core::{b64, jwt};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use std::time::Instant;

/// Microseconds per token of one pass of `f` over `tokens`.
fn pass(tokens: &[String], f: &mut impl FnMut(usize, &str)) -> f64 {
    let start = Instant::now();
    tokens.iter().enumerate().for_each(|(i, t)| f(i, t));
    start.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])
        .expect("tokens file")
        .lines()
        .map(str::to_owned)
        .collect();
    let keys =
        KeySet::from_json(&std::fs::read_to_string(&args[2]).expect("jwks file")).expect("jwks");
    let alg = args[3].as_str();
    // Every token names its key by kid; ring is handed that key's material directly.
    let kid_of = |t: &str| {
        let header = b64::decode(t.split('.').next().unwrap()).unwrap();
        let h: serde_json::Value = serde_json::from_slice(&header).unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let material = |kid: &str| {
        &keys
            .keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .expect("kid in jwks")
            .material
    };
    let prepared: Vec<(String, Vec<u8>, &Material)> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.rsplit_once('.').unwrap();
            (
                input.to_owned(),
                b64::decode(sig).unwrap(),
                material(&kid_of(t)),
            )
        })
        .collect();
    let mut ring = |i: usize, _: &str| {
        let (input, sig, m) = &prepared[i];
        let ok = match (m, alg) {
            (Material::Ec { point, .. }, "ES256") => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(input.as_bytes(), sig)
            }
            (Material::Rsa { n, e, .. }, "RS256") => RsaPublicKeyComponents { n, e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                sig,
            ),
            _ => panic!("unexpected key for {alg}"),
        };
        assert!(ok.is_ok());
    };
    let opts = VerifyOptions::default();
    let mut core = |_: usize, t: &str| {
        let payload = jwt::verify(t, &keys, &opts, 1.0e9, 30.0).expect("valid");
        std::hint::black_box(payload);
    };
    let (mut ring_us, mut core_us) = (f64::MAX, f64::MAX);
    for _ in 0..10 {
        ring_us = ring_us.min(pass(&tokens, &mut ring));
        core_us = core_us.min(pass(&tokens, &mut core));
    }
    println!("{ring_us:.3} {core_us:.3}");
}
