//! One module per subcommand.

pub mod bench;
pub mod consume;
pub mod produce;
pub mod topic;
