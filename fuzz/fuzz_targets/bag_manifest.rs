//! cargo fuzz run bag_manifest — see docs/fuzzing.md; the body is capstan_fuzz::bag_manifest.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    capstan_fuzz::bag_manifest(data);
});
