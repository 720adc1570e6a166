//! kafkademo: Apache Kafka's core ideas, hands on. `main` only hands over to
//! `run` and turns its outcome into the process exit code.

mod admin;
mod broker;
mod cli;
mod commands;
mod consumer;
mod error;
mod group;
mod producer;
mod record;
mod run;
mod signal;
mod web;

fn main() {
    std::process::exit(run::run());
}
