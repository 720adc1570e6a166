//! The modern data path: producing and fetching with record batches
//! (message format v2) over our own deadline-bounded connections, speaking
//! Produce v3+ and Fetch v4+, which Kafka 4.x still accepts (it dropped the
//! v0 requests the `kafka` crate sends). `leaders` knows each partition's
//! leader and keeps a connection to it, `batch` turns records into record
//! batches and back (pure logic), `produce` and `fetch` send the requests.

pub mod batch;
pub mod fetch;
pub mod leaders;
pub mod produce;
