//! One module per subcommand.

pub mod bench;
pub mod chat;
pub mod cluster;
pub mod completions;
pub mod connect;
pub mod consume;
pub mod group;
pub mod manage;
pub mod produce;
pub mod profile;
pub mod stream;
pub mod top;
pub mod topic;
pub mod transactions;
pub mod web;

/// How often a consumer of a group (the console consumer, the stream
/// steps) commits its offsets: each time what it delivered, only once it
/// was delivered. One rule, written once.
pub const COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
