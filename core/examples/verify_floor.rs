//! Native floors for the benchmark: verify the same tokens as the SQL benchmark, in-process,
//! and print microseconds per call, twice:
//! 1. auth_core's own JWS layer with the key from the key cache, as the SQL function gets
//!    it (one lookup per call; the text key is parsed once), the same options and leeway;
//! 2. the `jsonwebtoken` crate (the crate our users' design names) doing the same job:
//!    HS256 signature, `exp` with leeway, the claims as JSON text (what PostgreSQL's
//!    jsonb_in would then read).
//!
//! Usage: verify_floor <tokens-file> <secret>   (one token per line)
use auth_core::cache::{Form, KeyCache};
use auth_core::claims::VerifyOptions;
use auth_core::keys::KeySet;
use std::time::Instant;

fn best_of_5(tokens: &[String], mut verify: impl FnMut(&str)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for t in tokens {
            verify(t);
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])
        .expect("tokens file")
        .lines()
        .map(str::to_owned)
        .collect();
    let secret = &args[2];
    let opts = VerifyOptions::default();
    let now = 1.0e9; // before every token's exp
    let mut cache = KeyCache::new();
    let ours = best_of_5(&tokens, |t| {
        let keys = cache
            .get_or_parse(Form::Text, secret.as_bytes(), || KeySet::from_text(secret))
            .expect("key");
        let payload = auth_core::jwt::verify(t, &keys, &opts, now, 30.0).expect("valid");
        std::hint::black_box(payload);
    });

    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 30;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let crate_way = best_of_5(&tokens, |t| {
        let data = jsonwebtoken::decode::<serde_json::Value>(t, &key, &validation).expect("valid");
        std::hint::black_box(serde_json::to_string(&data.claims).expect("json"));
    });
    println!("{ours:.3} {crate_way:.3}");
}
