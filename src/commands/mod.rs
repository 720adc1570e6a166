//! One module per subcommand.

pub mod bench;
pub mod chat;
pub mod cluster;
pub mod connect;
pub mod consume;
pub mod group;
pub mod manage;
pub mod produce;
pub mod stream;
pub mod top;
pub mod topic;
pub mod web;
