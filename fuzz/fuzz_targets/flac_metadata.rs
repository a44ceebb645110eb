//! cargo fuzz run flac_metadata — see docs/fuzzing.md; the body is capstan_fuzz::flac_metadata.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::flac_metadata(data);
});
