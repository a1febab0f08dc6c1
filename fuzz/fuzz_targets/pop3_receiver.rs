#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailyard_fuzz::pop3_receiver(data));
