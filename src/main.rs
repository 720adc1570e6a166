//! kafkademo: Apache Kafka's core ideas, hands on. `main` only hands over to
//! `run` and turns its outcome into the process exit code.

mod admin;
mod broker;
mod chat;
mod cli;
mod commands;
mod consumer;
mod error;
mod group;
mod membership;
mod offsets;
mod producer;
mod record;
mod run;
mod signal;
mod web;

fn main() {
    std::process::exit(run::run());
}
