//! Integration tests: the built `kafkademo` binary against the real Kafka
//! broker that `make test` starts. Without a broker every broker test fails
//! loudly; none is skipped.

mod fixture;
mod stream_fixture;

mod bench;
mod chat;
mod cli;
mod cluster;
mod connect;
mod connect_outages;
mod datapath;
mod escapes;
mod exercise;
mod faults;
mod groups;
mod habits;
mod hostile;
mod kafka4;
mod manage;
mod metrics;
mod modern;
mod secured_broker;
mod security;
mod streams;
mod top;
mod topic;
mod transactions;
mod web;
mod zombies;
