//! cargo fuzz run wav_file — see docs/fuzzing.md; the body is capstan_fuzz::wav_file.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::wav_file(data);
});
