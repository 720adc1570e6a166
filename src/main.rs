//! kafkademo: Apache Kafka's core ideas, hands on. `main` only hands over to
//! `run` and turns its outcome into the process exit code.

mod chat;
mod cli;
mod client;
mod commands;
mod delivery;
mod error;
mod escape;
mod lines;
mod observe;
mod profiles;
mod properties;
mod record;
mod render;
mod run;
mod signal;
mod stream;
mod web;

fn main() {
    std::process::exit(run::run());
}
