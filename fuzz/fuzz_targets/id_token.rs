#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_layer::fuzzing::id_token(
    oidc_layer_fuzz::fixture(),
    data
));
