//! The cluster as a whole: where its brokers are (the `--brokers` list plus
//! every broker metadata has named since), one live connection to any of
//! them, and the `kafka` crate client built on top. A broker that dies is
//! replaced by another on the next request, so no command depends on the
//! one broker it first reached.

use std::time::Duration;

use kafka_protocol::messages::MetadataResponse;

pub use crate::client::brokers::{join_host_port, BrokerConfig, DataPath};
use crate::client::connection::{Connection, CLIENT_ID};
use crate::client::deadline::Deadline;
use crate::client::versions;
use crate::error::{Error, Result};

/// A cluster as seen through one broker that answered.
pub struct Cluster {
    pub config: BrokerConfig,
    bootstrap: Connection,
}

impl Cluster {
    /// Tries each known broker in turn within one `--timeout` in all;
    /// fails only when none answers.
    pub fn connect(config: &BrokerConfig) -> Result<Self> {
        let deadline = Deadline::after(config.timeout);
        let candidates = config.candidates();
        let mut first_err = None;
        for (i, addr) in candidates.iter().enumerate() {
            if i > 0 && deadline.expired() {
                break;
            }
            // A frozen broker must not take the whole timeout from the
            // others: each remaining one gets an equal share (500 ms at least).
            let share = deadline.remaining() / (candidates.len() - i) as u32;
            let attempt = deadline.min(Deadline::after(share.max(Duration::from_millis(500))));
            match Connection::open_until(addr, config, attempt) {
                Ok(mut bootstrap) => {
                    // Learn the other brokers, so losing this one is survivable.
                    match bootstrap.metadata(Some(&[])) {
                        Ok(m) => config.learn(&m),
                        Err(Error::Interrupted) => return Err(Error::Interrupted),
                        // Wrong security settings fail every broker alike.
                        Err(e @ (Error::Config { .. } | Error::Denied { .. })) => return Err(e),
                        // A broker whose answer broke the connection (it
                        // went silent mid-answer, or sent a malformed one)
                        // is no bootstrap: the next one is tried.
                        Err(e) if bootstrap.is_broken() => {
                            log::info!("{e}");
                            first_err.get_or_insert(e);
                            continue;
                        }
                        Err(e) => log::debug!("{e}"),
                    }
                    return Ok(Cluster {
                        config: config.clone(),
                        bootstrap,
                    });
                }
                Err(Error::Interrupted) => return Err(Error::Interrupted),
                Err(e) => {
                    log::info!("{e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(match first_err {
            Some(e) if candidates.len() == 1 => e,
            Some(Error::Timeout { timeout, .. }) => Error::Timeout {
                addr: config.display(),
                timeout,
            },
            Some(e) => Error::Unreachable {
                addr: config.display(),
                reason: format!("no broker on the list answered (first: {e})"),
            },
            None => Error::Timeout {
                addr: config.display(),
                timeout: config.timeout,
            },
        })
    }

    /// A live connection to some broker: the current one, or, once it
    /// broke, a new one to whichever broker answers (the broken one is
    /// kept when none does, and its requests fail at once).
    pub fn bootstrap(&mut self) -> &mut Connection {
        if self.bootstrap.is_broken() {
            match Cluster::connect(&self.config) {
                Ok(fresh) => self.bootstrap = fresh.bootstrap,
                Err(e) => log::info!("{e}"),
            }
        }
        &mut self.bootstrap
    }

    /// A connection to the broker with this id.
    pub fn connection_to(&mut self, metadata: &MetadataResponse, id: i32) -> Result<Connection> {
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.node_id.0 == id)
            .ok_or_else(|| {
                Error::broker(format!(
                    "broker {id} is not in the cluster metadata from {}",
                    self.bootstrap.addr()
                ))
            })?;
        let addr = join_host_port(&broker.host, broker.port);
        Connection::open(&addr, &self.config)
    }

    /// The data path that runs for this cluster (never `Auto`): as asked,
    /// or, for `auto`, classic when the bootstrap broker accepts the `kafka`
    /// crate's request versions and modern when it does not (Kafka 4.x).
    /// A forced path the broker cannot serve is an error (exit 76).
    pub fn data_path(&self) -> Result<DataPath> {
        let (addr, versions) = (self.bootstrap.addr(), self.bootstrap.api_versions());
        let chosen = match self.config.data_path {
            DataPath::Classic => {
                versions::check_data_path(addr, versions)?;
                DataPath::Classic
            }
            DataPath::Modern => {
                versions::check_modern_path(addr, versions)?;
                DataPath::Modern
            }
            DataPath::Auto => match versions::check_data_path(addr, versions) {
                Ok(()) => DataPath::Classic,
                Err(why) => {
                    versions::check_modern_path(addr, versions)?;
                    log::info!("modern data path: {why}");
                    DataPath::Modern
                }
            },
        };
        if self.config.data_path != DataPath::Auto {
            log::info!("{} data path, as asked", chosen.name());
        } else if chosen == DataPath::Classic {
            log::info!("classic data path: {addr} accepts the kafka crate's request versions");
        }
        Ok(chosen)
    }

    /// A `kafka` crate client for produce/consume, built only after a broker
    /// answered us, so its unbounded connect cannot hang the user. Its calls
    /// run on a worker (client::classic) that a deadline can walk away from.
    /// Refused (exit 76) when the broker no longer takes the crate's
    /// request versions (Kafka 4.x).
    pub fn kafka_client(&self) -> Result<kafka::client::KafkaClient> {
        versions::check_data_path(self.bootstrap.addr(), self.bootstrap.api_versions())?;
        let mut hosts = vec![self.bootstrap.addr().to_string()];
        hosts.extend(
            self.config
                .candidates()
                .into_iter()
                .filter(|b| b.as_str() != self.bootstrap.addr()),
        );
        let mut client = kafka::client::KafkaClient::new(hosts);
        client.set_client_id(CLIENT_ID.into());
        client.set_connection_idle_timeout(Duration::from_secs(60));
        Ok(client)
    }
}
