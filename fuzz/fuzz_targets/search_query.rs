//! The search query parser, and its rendering for both backends, on any text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chatpulse::fuzzing::search_query(data);
});
