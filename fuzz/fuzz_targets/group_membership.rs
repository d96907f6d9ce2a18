#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| samsa_log::fuzzing::group_membership(data));
