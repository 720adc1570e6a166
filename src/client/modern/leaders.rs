//! Where one topic's partitions lead: each partition's leader from Metadata
//! v1+, the brokers' addresses, and one connection per leader broker, opened
//! when first needed and opened again once it broke. `refresh` reads the
//! metadata again after a leader moved or went away.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::MetadataResponse;

use crate::client::cluster::{join_host_port, BrokerConfig, Cluster};
use crate::client::codes;
use crate::client::connection::Connection;
use crate::error::{Error, Result};

/// The partitions of one topic, their leaders and a connection to each.
pub struct Leaders {
    config: BrokerConfig,
    topic: String,
    /// partition -> leader broker id (-1 or missing: none known).
    leaders: BTreeMap<i32, i32>,
    /// broker id -> `host:port`.
    addrs: HashMap<i32, String>,
    /// broker id -> its connection, opened on first use.
    connections: HashMap<i32, Connection>,
    /// Our own way to the cluster for `refresh`, made on the first refresh.
    cluster: Option<Cluster>,
}

impl Leaders {
    /// The leaders of `topic`'s partitions, as `cluster` sees them now.
    pub fn new(cluster: &mut Cluster, topic: &str) -> Result<Leaders> {
        let metadata = cluster.bootstrap().metadata(Some(&[topic]))?;
        let mut leaders = Leaders {
            config: cluster.config.clone(),
            topic: topic.to_string(),
            leaders: BTreeMap::new(),
            addrs: HashMap::new(),
            connections: HashMap::new(),
            cluster: None,
        };
        leaders.learn(&metadata)?;
        Ok(leaders)
    }

    /// How many partitions the topic has, as last seen.
    pub fn partition_count(&self) -> i32 {
        self.leaders.len() as i32
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The broker leading `partition`, if one is known.
    pub fn leader(&self, partition: i32) -> Option<i32> {
        self.leaders.get(&partition).copied().filter(|&id| id >= 0)
    }

    /// Whether the metadata named `partition` at all (with or without a leader).
    pub fn has_partition(&self, partition: i32) -> bool {
        self.leaders.contains_key(&partition)
    }

    /// Reads the topic's metadata again, through our own connection to the
    /// cluster (a fresh one when the last one broke or failed).
    pub fn refresh(&mut self) -> Result<()> {
        let metadata = match self.read_metadata() {
            Ok(m) => m,
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                // The broker we asked may be the one that went away.
                log::info!("{e}; asking another broker");
                self.cluster = None;
                self.read_metadata()?
            }
        };
        self.learn(&metadata)
    }

    fn read_metadata(&mut self) -> Result<MetadataResponse> {
        let cluster = match &mut self.cluster {
            Some(c) => c,
            None => self.cluster.insert(Cluster::connect(&self.config)?),
        };
        let topic = self.topic.as_str();
        cluster.bootstrap().metadata(Some(&[topic]))
    }

    /// Takes leaders and addresses from a metadata answer; connections to
    /// brokers that moved elsewhere or left are dropped.
    fn learn(&mut self, metadata: &MetadataResponse) -> Result<()> {
        let (leaders, addrs) = read_leaders(metadata, &self.topic, &self.config.display())?;
        self.config.learn(metadata);
        self.connections
            .retain(|id, conn| addrs.get(id).is_some_and(|a| a == conn.addr()));
        self.leaders = leaders;
        self.addrs = addrs;
        Ok(())
    }

    /// The connection to broker `id`, opened now if there is none or the
    /// last one broke.
    pub fn connection(&mut self, id: i32) -> Result<&mut Connection> {
        if self.connections.get(&id).is_some_and(Connection::is_broken) {
            self.connections.remove(&id);
        }
        if !self.connections.contains_key(&id) {
            let addr = self.addrs.get(&id).ok_or_else(|| {
                Error::broker(format!(
                    "broker {id}, a leader of topic '{}', is not in the cluster metadata from {}",
                    self.topic,
                    self.config.display()
                ))
            })?;
            let conn = Connection::open(addr, &self.config)?;
            self.connections.insert(id, conn);
        }
        self.connections.get_mut(&id).ok_or_else(|| {
            Error::broker(format!(
                "no connection to broker {id} (topic '{}')",
                self.topic
            ))
        })
    }

    /// Drops the connection to broker `id` (after a failure that left it
    /// unusable, so the next request opens a new one).
    pub fn forget(&mut self, id: i32) {
        self.connections.remove(&id);
    }

    /// `partitions` by leader; those without a known leader apart.
    pub fn by_leader(
        &self,
        partitions: impl IntoIterator<Item = i32>,
    ) -> (BTreeMap<i32, Vec<i32>>, Vec<i32>) {
        let mut grouped: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        let mut leaderless = Vec::new();
        for p in partitions {
            match self.leader(p) {
                Some(id) => grouped.entry(id).or_default().push(p),
                None => leaderless.push(p),
            }
        }
        (grouped, leaderless)
    }

    /// The error code for a partition without a known leader: unknown when
    /// the metadata does not name it, else no leader (both retriable after
    /// a `refresh`).
    pub fn leaderless_code(&self, partition: i32) -> i16 {
        if self.has_partition(partition) {
            codes::LEADER_NOT_AVAILABLE
        } else {
            codes::UNKNOWN_TOPIC_OR_PARTITION
        }
    }
}

type LeaderMaps = (BTreeMap<i32, i32>, HashMap<i32, String>);

/// Partition -> leader id and broker id -> address from a metadata answer
/// about `topic`; an unknown topic is an error.
fn read_leaders(metadata: &MetadataResponse, topic: &str, brokers: &str) -> Result<LeaderMaps> {
    let addrs = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id.0, join_host_port(&b.host, b.port)))
        .collect();
    let mut leaders = BTreeMap::new();
    let mut found = false;
    for t in &metadata.topics {
        if t.name.as_ref().map(|n| n.as_str()) != Some(topic) {
            continue;
        }
        found = true;
        match t.error_code {
            0 => {}
            codes::UNKNOWN_TOPIC_OR_PARTITION => {
                return Err(Error::UnknownTopic {
                    topic: topic.to_string(),
                    brokers: brokers.to_string(),
                })
            }
            // A topic being created has no leaders yet: no partitions known.
            codes::LEADER_NOT_AVAILABLE => {}
            code => {
                if let Some(e) =
                    codes::denied(code, "describe", "Describe", || format!("topic {topic}"))
                {
                    return Err(e);
                }
                return Err(Error::broker(format!(
                    "cannot find the leaders of topic '{topic}': broker error {code} ({}) from {brokers}",
                    codes::name(code)
                )));
            }
        }
        for p in &t.partitions {
            leaders.insert(p.partition_index, p.leader_id.0);
        }
    }
    if !found {
        return Err(Error::broker(format!(
            "the metadata from {brokers} says nothing about topic '{topic}'"
        )));
    }
    Ok((leaders, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::connection::topic_name;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::protocol::StrBytes;

    fn metadata(code: i16, leaders: &[i32]) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("::1"))
                .with_port(9092)])
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name("t")))
                .with_error_code(code)
                .with_partitions(
                    leaders
                        .iter()
                        .enumerate()
                        .map(|(p, &l)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p as i32)
                                .with_leader_id(BrokerId(l))
                        })
                        .collect(),
                )])
    }

    #[test]
    fn leaders_and_addresses_come_from_the_metadata() {
        let (leaders, addrs) = read_leaders(&metadata(0, &[1, -1]), "t", "b").unwrap();
        assert_eq!(leaders, [(0, 1), (1, -1)].into());
        assert_eq!(addrs[&1], "[::1]:9092");
    }

    #[test]
    fn an_unknown_topic_is_an_error() {
        let e = read_leaders(&metadata(3, &[]), "t", "b").unwrap_err();
        assert!(matches!(e, Error::UnknownTopic { .. }), "{e}");
        let e = read_leaders(&metadata(0, &[1]), "other", "b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the metadata from b says nothing about topic 'other'"
        );
        let (leaders, _) = read_leaders(&metadata(5, &[]), "t", "b").unwrap();
        assert!(leaders.is_empty());
    }
}
