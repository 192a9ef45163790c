#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_layer::fuzzing::token_response(
    oidc_layer_fuzz::fixture(),
    data
));
