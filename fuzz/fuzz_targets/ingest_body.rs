//! The ingest body parser (JSON, array, NDJSON) on any bytes: it answers with messages or
//! a refusal, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chatpulse::fuzzing::ingest_body(data);
});
