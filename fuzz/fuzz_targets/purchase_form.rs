#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kantan::local::fuzzing::purchase_form(data));
