//! The integration suite: one test binary (one link) that starts the real
//! `chatpulse` server per test on a fresh temporary database.

use chatpulse_testkit as common;

mod analytics;
mod catchup;
mod cli;
mod concurrency;
mod contract;
mod crash;
mod edge_cases;
mod ingest;
mod irc;
mod live;
mod overflow;
mod people;
mod polls_files;
mod read_api;
mod shutdown;
mod streams;
mod top;
mod upgrade;
