//! What `kafkademo web` is made of: the page (HTML, CSS and JS embedded in
//! the binary), its HTTP server (bounded in threads and bytes) and rules, the hub that fans records out to every open
//! page, and the consumer thread that feeds the hub.

pub mod http;
pub mod hub;
pub mod metrics;
pub mod server;
pub mod stream;
pub mod watch;
