//! Changing a running cluster: more partitions (CreatePartitions), topic
//! settings (IncrementalAlterConfigs, DescribeConfigs with synonyms), a
//! broker's log levels at runtime (IncrementalAlterConfigs on BROKER_LOGGER),
//! deleting old records (DeleteRecords), preferred leader elections
//! (ElectLeaders), replica moves (AlterPartitionReassignments and
//! ListPartitionReassignments), what the cluster is (DescribeCluster), and
//! how much disk a topic takes (DescribeLogDirs).
//! Every request goes at the highest version both sides speak; Kafka 3.9
//! and 4.4 take all of them.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, DeleteRecordsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeLogDirsRequest, ElectLeadersRequest,
    IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::admin::{self, describe_topic, timeout_ms, topic_error, with_controller};
use crate::client::cluster::{join_host_port, Cluster};
use crate::client::codes;
use crate::client::connection::{topic_name, Connection};
use crate::error::{Error, Result};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER_LOGGER: i8 = 8;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const ELECTION_PREFERRED: i8 = 0;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Raises the partition count of `topic` to `count` and waits (within the
/// timeout) until metadata shows them. Fewer or as many as now is a usage
/// error (exit 2): Kafka cannot take partitions away.
pub fn add_partitions(cluster: &mut Cluster, topic: &str, count: i32) -> Result<i32> {
    let now = describe_topic(cluster, topic)?.partitions.len() as i32;
    if count <= now {
        let why = if count == now {
            "nothing to add".to_string()
        } else {
            "Kafka cannot take partitions away (it would lose records and break key order)"
                .to_string()
        };
        return Err(Error::Usage(format!(
            "topic '{topic}' has {now} partition{}; {why}",
            if now == 1 { "" } else { "s" }
        )));
    }
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(None)])
        .with_timeout_ms(timeout_ms(cluster.config.timeout));
    let ((code, message), _) = with_controller(cluster, |conn| {
        let r = conn.call(&request)?;
        let r = r.results.into_iter().next().ok_or_else(|| {
            Error::broker(format!(
                "{} answered CreatePartitions without a result",
                conn.addr()
            ))
        })?;
        Ok((r.error_code, r.error_message.map(|m| m.to_string())))
    })?;
    if code != 0 {
        return Err(named(
            topic_error(code, message, topic, "add partitions to"),
            topic,
            cluster,
        ));
    }
    let shown = admin::wait_for(cluster, topic, |m| {
        m.topics.iter().any(|t| {
            t.partitions.len() as i32 >= count && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        })
    })?;
    if !shown {
        log::warn!("the brokers do not show the new partitions of topic '{topic}' yet");
    }
    Ok(now)
}

/// An UnknownTopic from `topic_error` names no brokers: fill them in.
fn named(e: Error, topic: &str, cluster: &Cluster) -> Error {
    match e {
        Error::UnknownTopic { .. } => Error::UnknownTopic {
            topic: topic.to_string(),
            brokers: cluster.config.display(),
        },
        e => e,
    }
}

/// Sets and deletes topic settings in one IncrementalAlterConfigs; a bad
/// name or value comes back as the broker's own reason.
pub fn alter_configs(
    cluster: &mut Cluster,
    topic: &str,
    set: &[(String, String)],
    delete: &[String],
) -> Result<()> {
    admin::validate_topic_name(topic)?;
    let mut configs: Vec<AlterableConfig> = set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(OP_SET)
                .with_value(Some(s(v)))
        })
        .collect();
    configs.extend(delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(s(k))
            .with_config_operation(OP_DELETE)
    }));
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s(topic))
            .with_configs(configs),
    ]);
    let conn = cluster.bootstrap();
    let addr = conn.addr().to_string();
    let response = conn.call(&request)?;
    for r in response.responses {
        if r.error_code != 0 {
            let e = topic_error(
                r.error_code,
                r.error_message.map(|m| m.to_string()),
                topic,
                "alter",
            );
            return Err(match named(e, topic, cluster) {
                Error::Broker { message, hint } => Error::Broker {
                    message: format!("{message} (broker {addr})"),
                    hint,
                },
                e => e,
            });
        }
    }
    Ok(())
}

/// A broker's log4j loggers (e.g. kafka.request.logger), set to a level
/// while it runs (IncrementalAlterConfigs on BROKER_LOGGER, KIP-412, Kafka
/// 2.4+); a level lasts until the broker restarts. Every change goes to
/// that broker itself on one connection, kept open, so that in a request
/// log the changes switch on and off they show on that connection alone.
pub struct BrokerLoggers {
    conn: Connection,
    broker: i32,
}

impl BrokerLoggers {
    pub fn open(cluster: &mut Cluster, broker: i32) -> Result<BrokerLoggers> {
        let metadata = cluster.bootstrap().metadata(Some(&[]))?;
        let conn = cluster.connection_to(&metadata, broker)?;
        Ok(BrokerLoggers { conn, broker })
    }

    /// Sets `logger` to `level` (DEBUG, INFO, WARN, …).
    pub fn set(&mut self, logger: &str, level: &str) -> Result<()> {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_BROKER_LOGGER)
                .with_resource_name(s(&self.broker.to_string()))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(logger))
                    .with_config_operation(OP_SET)
                    .with_value(Some(s(level)))]),
        ]);
        let response = self.conn.call(&request)?;
        for r in response.responses {
            if r.error_code != 0 {
                let why = r
                    .error_message
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| codes::name(r.error_code));
                return Err(Error::broker(format!(
                    "broker {} ({}) cannot set logger {logger} to {level}: {why}",
                    self.broker,
                    self.conn.addr()
                )));
            }
        }
        Ok(())
    }
}

/// Where a setting's value comes from, as DescribeConfigs says.
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "topic",
        2 => "broker (dynamic, this broker)",
        3 => "broker (dynamic, cluster default)",
        4 => "broker (server.properties)",
        5 => "Kafka default",
        6 => "broker logger",
        7 => "client metrics",
        8 => "group",
        _ => "unknown",
    }
}

#[derive(Debug, Clone)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

#[derive(Debug, Clone)]
pub struct ConfigEntry {
    pub name: String,
    /// None for a sensitive or unset value.
    pub value: Option<String>,
    pub source: i8,
    pub sensitive: bool,
    pub read_only: bool,
    /// From the value in force down to Kafka's default, as the broker lists them.
    pub synonyms: Vec<Synonym>,
}

impl ConfigEntry {
    /// What the value would be without the setting in force (the topic's,
    /// or the broker's): the next synonym from another source.
    pub fn default(&self) -> Option<&Synonym> {
        self.synonyms.iter().find(|s| s.source != self.source)
    }
}

/// Every setting of a topic, sorted by name, each with its synonyms.
pub fn topic_configs(cluster: &mut Cluster, topic: &str) -> Result<Vec<ConfigEntry>> {
    admin::validate_topic_name(topic)?;
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(s(topic))]);
    let response = cluster.bootstrap().call(&request)?;
    let mut out = Vec::new();
    for result in response.results {
        if result.error_code != 0 {
            let e = topic_error(
                result.error_code,
                result.error_message.map(|m| m.to_string()),
                topic,
                "describe the configs of",
            );
            return Err(named(e, topic, cluster));
        }
        for c in result.configs {
            out.push(ConfigEntry {
                name: c.name.to_string(),
                value: if c.is_sensitive {
                    None
                } else {
                    c.value.map(|v| v.to_string())
                },
                source: c.config_source,
                sensitive: c.is_sensitive,
                read_only: c.read_only,
                synonyms: c
                    .synonyms
                    .into_iter()
                    .map(|y| Synonym {
                        name: y.name.to_string(),
                        value: if c.is_sensitive {
                            None
                        } else {
                            y.value.map(|v| v.to_string())
                        },
                        source: y.source,
                    })
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One partition's answer to DeleteRecords.
#[derive(Debug)]
pub struct Truncated {
    pub partition: i32,
    /// The new log start (low watermark), or why the partition refused.
    pub outcome: std::result::Result<i64, String>,
}

/// Deletes the records before each offset (`-1`: the high watermark), asking
/// each partition's leader.
pub fn delete_records(
    cluster: &mut Cluster,
    topic: &str,
    before: &BTreeMap<i32, i64>,
) -> Result<Vec<Truncated>> {
    let metadata = cluster.bootstrap().metadata(Some(&[topic]))?;
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut out = Vec::new();
    for p in metadata.topics.iter().flat_map(|t| t.partitions.iter()) {
        if before.contains_key(&p.partition_index) {
            if p.leader_id.0 < 0 {
                out.push(Truncated {
                    partition: p.partition_index,
                    outcome: Err("no leader right now (a broker is down?)".into()),
                });
            } else {
                by_leader
                    .entry(p.leader_id.0)
                    .or_default()
                    .push(p.partition_index);
            }
        }
    }
    for (leader, partitions) in by_leader {
        let mut conn = cluster.connection_to(&metadata, leader)?;
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(timeout_ms(cluster.config.timeout))
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&p| {
                            DeleteRecordsPartition::default()
                                .with_partition_index(p)
                                .with_offset(before[&p])
                        })
                        .collect(),
                )]);
        let response = conn.call(&request)?;
        for r in response.topics.iter().flat_map(|t| t.partitions.iter()) {
            let outcome = match r.error_code {
                0 => Ok(r.low_watermark),
                codes::OFFSET_OUT_OF_RANGE => Err(format!(
                    "offset {} is past the partition's end (broker {})",
                    before[&r.partition_index],
                    conn.addr()
                )),
                codes::POLICY_VIOLATION => Err(format!(
                    "refused by broker {}: Kafka does not delete records of a compacted topic (cleanup.policy=compact)",
                    conn.addr()
                )),
                code => {
                    if let Some(e) = codes::denied(code, "delete records of", "Delete", || {
                        format!("topic {topic}")
                    }) {
                        return Err(e);
                    }
                    Err(format!(
                        "broker {} answered error {code} ({})",
                        conn.addr(),
                        codes::name(code)
                    ))
                }
            };
            out.push(Truncated {
                partition: r.partition_index,
                outcome,
            });
        }
    }
    out.sort_by_key(|t| t.partition);
    Ok(out)
}

#[derive(Debug, serde::Serialize)]
pub struct BrokerInfo {
    pub id: i32,
    pub address: String,
    pub rack: Option<String>,
    /// Fenced by the KRaft controller (DescribeCluster v2, Kafka 4.0+).
    pub fenced: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct ClusterInfo {
    pub cluster_id: Option<String>,
    /// As the brokers report it: in KRaft mode, a broker that forwards
    /// admin requests to the active controller of the quorum.
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerInfo>,
    /// The address that answered.
    pub answered_by: String,
}

/// DescribeCluster (Kafka 2.8+), else Metadata.
pub fn describe_cluster(cluster: &mut Cluster) -> Result<ClusterInfo> {
    let conn = cluster.bootstrap();
    let answered_by = conn.addr().to_string();
    if let Ok(version) = conn.version::<DescribeClusterRequest>() {
        // Fenced brokers are listed from v2 (Kafka 4.0) on, when asked for.
        let request = DescribeClusterRequest::default().with_include_fenced_brokers(version >= 2);
        let r = conn.call(&request)?;
        if r.error_code != 0 {
            if let Some(e) = codes::denied(r.error_code, "describe", "Describe", || {
                "the cluster".into()
            }) {
                return Err(e);
            }
            return Err(Error::broker(format!(
                "broker {answered_by} cannot describe the cluster: error {} ({})",
                r.error_code,
                codes::name(r.error_code)
            )));
        }
        let mut brokers: Vec<BrokerInfo> = r
            .brokers
            .iter()
            .map(|b| BrokerInfo {
                id: b.broker_id.0,
                address: join_host_port(&b.host, b.port),
                rack: b.rack.as_ref().map(|r| r.to_string()),
                fenced: b.is_fenced,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        return Ok(ClusterInfo {
            cluster_id: Some(r.cluster_id.to_string()),
            controller: (r.controller_id.0 >= 0).then_some(r.controller_id.0),
            brokers,
            answered_by,
        });
    }
    let m = conn.metadata(Some(&[]))?;
    let mut brokers: Vec<BrokerInfo> = m
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            id: b.node_id.0,
            address: join_host_port(&b.host, b.port),
            rack: b.rack.as_ref().map(|r| r.to_string()),
            fenced: false,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(ClusterInfo {
        cluster_id: m.cluster_id.map(|c| c.to_string()),
        controller: (m.controller_id.0 >= 0).then_some(m.controller_id.0),
        brokers,
        answered_by,
    })
}

/// The size on disk of every replica of `topic` (DescribeLogDirs to each
/// broker holding one), in bytes, summed: what Kafka's LogDirsCommand
/// reports, future replicas (a move between log dirs) left out.
pub fn topic_log_bytes(cluster: &mut Cluster, topic: &str) -> Result<u64> {
    let info = describe_topic(cluster, topic)?;
    let partitions: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
    let mut holders: Vec<i32> = info
        .partitions
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .collect();
    holders.sort_unstable();
    holders.dedup();
    let metadata = cluster.bootstrap().metadata(Some(&[]))?;
    let request =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)]));
    let mut bytes = 0u64;
    for id in holders {
        let mut conn = cluster.connection_to(&metadata, id)?;
        let response = conn.call(&request)?;
        if response.error_code != 0 {
            return Err(topic_error(
                response.error_code,
                None,
                topic,
                "describe the log dirs of",
            ));
        }
        for dir in response.results {
            if dir.error_code != 0 {
                return Err(Error::broker(format!(
                    "broker {id} cannot describe its log dir {}: error {} ({})",
                    dir.log_dir,
                    dir.error_code,
                    codes::name(dir.error_code)
                )));
            }
            bytes += dir
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == topic)
                .flat_map(|t| t.partitions.iter())
                .filter(|p| !p.is_future_key)
                .map(|p| p.partition_size.max(0) as u64)
                .sum::<u64>();
        }
    }
    Ok(bytes)
}

/// One partition's preferred leader election.
#[derive(Debug)]
pub enum Elected {
    /// The preferred replica leads now.
    Done,
    /// It already did (ELECTION_NOT_NEEDED).
    AlreadyPreferred,
    /// Why not, in the broker's words.
    Failed(String),
}

/// Preferred leader elections for `only` (topic, partitions; None: every
/// partition of the cluster). Sorted by topic and partition.
pub fn elect_preferred(
    cluster: &mut Cluster,
    only: Option<(&str, Vec<i32>)>,
) -> Result<Vec<(String, i32, Elected)>> {
    let request = ElectLeadersRequest::default()
        .with_election_type(ELECTION_PREFERRED)
        .with_timeout_ms(timeout_ms(cluster.config.timeout))
        .with_topic_partitions(only.map(|(t, partitions)| {
            vec![TopicPartitions::default()
                .with_topic(topic_name(t))
                .with_partitions(partitions)]
        }));
    let ((_, response), _) = with_controller(cluster, |conn| {
        let r = conn.call(&request)?;
        if r.error_code != 0 && r.error_code != codes::NOT_CONTROLLER {
            if let Some(e) = codes::denied(r.error_code, "elect leaders in", "Alter", || {
                "the cluster".into()
            }) {
                return Err(e);
            }
            return Err(Error::broker(format!(
                "broker {} refused the leader election: error {} ({})",
                conn.addr(),
                r.error_code,
                codes::name(r.error_code)
            )));
        }
        Ok((r.error_code, r))
    })?;
    let mut out = Vec::new();
    for t in response.replica_election_results {
        for p in t.partition_result {
            let outcome = match p.error_code {
                0 => Elected::Done,
                codes::ELECTION_NOT_NEEDED => Elected::AlreadyPreferred,
                code => Elected::Failed(
                    p.error_message
                        .map(|m| m.to_string())
                        .filter(|m| !m.is_empty())
                        .map(|m| format!("{m} ({})", codes::name(code)))
                        .unwrap_or_else(|| format!("error {code} ({})", codes::name(code))),
                ),
            };
            out.push((t.topic.0.to_string(), p.partition_id, outcome));
        }
    }
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    Ok(out)
}

/// Starts moving each partition's replicas to the brokers listed (the first
/// is its preferred leader). Returns each partition's refusal, if any.
pub fn reassign(
    cluster: &mut Cluster,
    topic: &str,
    plan: &BTreeMap<i32, Vec<i32>>,
) -> Result<Vec<(i32, String)>> {
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms(cluster.config.timeout))
        .with_allow_replication_factor_change(true)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                plan.iter()
                    .map(|(&p, ids)| {
                        ReassignablePartition::default()
                            .with_partition_index(p)
                            .with_replicas(Some(ids.iter().map(|&b| BrokerId(b)).collect()))
                    })
                    .collect(),
            )]);
    let ((_, response), _) = with_controller(cluster, |conn| {
        let r = conn.call(&request)?;
        if r.error_code != 0 && r.error_code != codes::NOT_CONTROLLER {
            if let Some(e) = codes::denied(r.error_code, "reassign partitions in", "Alter", || {
                "the cluster".into()
            }) {
                return Err(e);
            }
            let detail = r
                .error_message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(Error::broker(format!(
                "broker {} refused to reassign topic '{topic}': error {} ({}){detail}",
                conn.addr(),
                r.error_code,
                codes::name(r.error_code)
            )));
        }
        Ok((r.error_code, r))
    })?;
    let mut refused = Vec::new();
    for p in response.responses.iter().flat_map(|t| t.partitions.iter()) {
        if p.error_code != 0 {
            let why = p
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| codes::name(p.error_code));
            refused.push((
                p.partition_index,
                format!("{why} ({})", codes::name(p.error_code)),
            ));
        }
    }
    Ok(refused)
}

/// A reassignment still under way: the replicas being added and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// The reassignments of `topic`'s `partitions` that are still under way.
pub fn ongoing_reassignments(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Ongoing>> {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms(cluster.config.timeout))
        .with_topics(Some(vec![ListPartitionReassignmentsTopics::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(partitions.to_vec())]));
    let ((_, response), _) = with_controller(cluster, |conn| {
        let r = conn.call(&request)?;
        Ok((r.error_code, r))
    })?;
    if response.error_code != 0 {
        return Err(Error::broker(format!(
            "cannot list the reassignments of topic '{topic}': error {} ({})",
            response.error_code,
            codes::name(response.error_code)
        )));
    }
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    Ok(response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                Ongoing {
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                },
            )
        })
        .collect())
}
