//! One module per subcommand.

pub mod consume;
pub mod produce;
pub mod topic;
pub mod web;
