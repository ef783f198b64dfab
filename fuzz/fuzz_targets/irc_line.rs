//! Lines from an IRC server: parsed, and chat lines mapped and validated as messages.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chatpulse::fuzzing::irc_line(data);
});
