#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_core::fuzz::json(data));
