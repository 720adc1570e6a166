//! One module per subcommand.

pub mod chat;
pub mod consume;
pub mod produce;
pub mod topic;
