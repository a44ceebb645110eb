//! cargo fuzz run profile — see docs/fuzzing.md; the body is capstan_fuzz::profile.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::profile(data);
});
