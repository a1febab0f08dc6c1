#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailyard_fuzz::sieve_script(data));
