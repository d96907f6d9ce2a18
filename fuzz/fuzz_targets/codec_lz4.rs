#![no_main]

use libfuzzer_sys::fuzz_target;
use samsa_log::producer::Compression;

fuzz_target!(|data: &[u8]| samsa_log::fuzzing::codec(Compression::Lz4, data));
