//! cargo fuzz run events — see docs/fuzzing.md; the body is capstan_fuzz::events.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::events(data);
});
