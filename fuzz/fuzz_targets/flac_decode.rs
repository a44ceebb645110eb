//! cargo fuzz run flac_decode — see docs/fuzzing.md; the body is capstan_fuzz::flac_decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::flac_decode(data);
});
