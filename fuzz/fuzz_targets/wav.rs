//! cargo fuzz run wav — see docs/fuzzing.md; the body is capstan_fuzz::wav.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::wav(data);
});
