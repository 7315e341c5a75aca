//! Native floor for the benchmark: verify the same tokens as the SQL benchmark, in-process,
//! with the same core code and options, and print microseconds per call.
//! Usage: verify_floor <tokens-file> <secret>   (one token per line)
use auth_core::claims::VerifyOptions;
use auth_core::keys::KeySet;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tokens: Vec<String> = std::fs::read_to_string(&args[1])
        .expect("tokens file")
        .lines()
        .map(str::to_owned)
        .collect();
    let opts = VerifyOptions::default();
    let now = 1.0e9; // before every token's exp
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for t in &tokens {
            // The SQL function parses its text key per call too; do the same here.
            let keys = KeySet::from_text(&args[2]).expect("key");
            let payload = auth_core::jwt::verify(t, &keys, &opts, now, 30.0).expect("valid");
            std::hint::black_box(payload);
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64);
    }
    println!("{best:.3}");
}
