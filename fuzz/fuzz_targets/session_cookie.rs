#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_layer::fuzzing::session_cookie(data));
