//! Write the fuzz harnesses' seed inputs (auth_core::fuzz::seeds) under DIR/<target>/.
//! Usage: fuzz_seeds DIR   (used by fuzz/run.sh)
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: fuzz_seeds DIR"));
    for (i, (target, data)) in auth_core::fuzz::seeds().into_iter().enumerate() {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join(format!("seed-{i}")), data).expect("write seed");
    }
}
