//! What a WebSocket client sends, as bytes off the socket: decoded by the server's codec,
//! text frames read as client frames, views and cursors parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    chatpulse::fuzzing::client_frames(data);
});
