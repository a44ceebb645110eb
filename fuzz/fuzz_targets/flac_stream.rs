//! cargo fuzz run flac_stream — see docs/fuzzing.md; the body is capstan_fuzz::flac_stream.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::flac_stream(data);
});
