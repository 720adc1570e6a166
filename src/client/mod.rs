//! Everything that speaks the Kafka protocol, in one tree below the commands:
//! connections with deadlines, TLS and SASL, topic administration, producing, fetching,
//! offsets, and consumer groups; and Kafka Connect's REST API (connect.rs). It never prints and never sees the command
//! line; commands depend on it, never the reverse (docs/architecture.md).

pub mod admin;
pub mod answer_check;
pub mod assignor;
pub mod classic;
pub mod cluster;
pub mod codes;
pub mod connect;
pub mod connection;
pub mod coordinator;
pub mod deadline;
pub mod fetch;
pub mod list_offsets;
pub mod manage;
pub mod member;
pub mod modern;
pub mod observe;
pub mod produce;
pub mod retry;
pub mod security;
pub mod transaction;
pub mod versions;
pub mod wire;
