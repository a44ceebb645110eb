//! cargo fuzz run bag_info — see docs/fuzzing.md; the body is capstan_fuzz::bag_info.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::bag_info(data);
});
