//! Topic administration over the admin protocol the `kafka` crate lacks:
//! CreateTopics, DeleteTopics, Metadata and DescribeConfigs through
//! `kafka-protocol`, with every broker error code turned into a sentence.

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::cluster::Cluster;
use crate::client::codes::{
    self, CLUSTER_AUTHORIZATION_FAILED, INVALID_CONFIG, INVALID_PARTITIONS,
    INVALID_REPLICATION_FACTOR, INVALID_TOPIC, LEADER_NOT_AVAILABLE, NOT_CONTROLLER,
    POLICY_VIOLATION, REQUEST_TIMED_OUT, TOPIC_ALREADY_EXISTS, TOPIC_AUTHORIZATION_FAILED,
    TOPIC_DELETION_DISABLED, UNKNOWN_TOPIC_OR_PARTITION,
};
use crate::client::connection::{topic_name, Connection};
use crate::client::list_offsets::{self, At};
use crate::error::{hints, Error, Result};

/// DescribeConfigs resource type of a topic, and the source of a per-topic override.
const RESOURCE_TOPIC: i8 = 2;
const SOURCE_DYNAMIC_TOPIC: i8 = 1;

/// Kafka's own rule for topic names (kafka.common.Topic / Topic.validate).
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |rule: &str| {
        Err(Error::Usage(format!(
            "invalid topic name '{}': {rule}",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return bad("it must not be empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return bad(&format!(
            "it is {} characters long; the limit is 249",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!(
            "'{}' is not allowed; use only ASCII letters, digits, '.', '_' and '-'",
            c.escape_debug()
        ));
    }
    Ok(())
}

pub struct NewTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: &'a [(String, String)],
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    AlreadyThere,
}

/// Creates a topic and waits (within the timeout) until every partition has a
/// leader, so the next command can produce to it at once.
pub fn create_topic(cluster: &mut Cluster, topic: &NewTopic) -> Result<Outcome> {
    validate_topic_name(topic.name)?;
    let configs = topic
        .configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(topic.name))
            .with_num_partitions(topic.partitions)
            .with_replication_factor(topic.replication_factor)
            .with_configs(configs)])
        .with_timeout_ms(timeout_ms(cluster.config.timeout));

    let (result, brokers) = with_controller(cluster, |conn| {
        let response = conn.call(&request)?;
        let result = response.topics.into_iter().next().ok_or_else(|| {
            Error::broker(format!(
                "{} answered CreateTopics without a result",
                conn.addr()
            ))
        })?;
        Ok((
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        ))
    })?;
    let (code, message) = result;
    match code {
        0 => {
            wait_for_leaders(cluster, topic.name)?;
            Ok(Outcome::Done)
        }
        TOPIC_ALREADY_EXISTS if message.as_deref().is_some_and(|m| m.contains("marked for deletion")) => {
            Err(Error::broker_with_hint(
                format!("topic '{}' is still being deleted", topic.name),
                "wait a few seconds and try again",
            ))
        }
        TOPIC_ALREADY_EXISTS => Ok(Outcome::AlreadyThere),
        INVALID_REPLICATION_FACTOR => Err(Error::broker_with_hint(
            format!(
                "cannot create topic '{}': replication factor {} is larger than the {} available broker(s)",
                topic.name, topic.replication_factor, brokers
            ),
            hints::fewer_replicas(brokers),
        )),
        _ => Err(topic_error(code, message, topic.name, "create")),
    }
}

/// Deletes a topic and waits (within the timeout) until metadata no longer shows it.
pub fn delete_topic(cluster: &mut Cluster, name: &str) -> Result<Outcome> {
    validate_topic_name(name)?;
    let ((code, message), _) = with_controller(cluster, |conn| {
        let version = conn.version::<DeleteTopicsRequest>()?;
        let mut request =
            DeleteTopicsRequest::default().with_timeout_ms(timeout_ms(conn.timeout()));
        if version >= 6 {
            request.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
        } else {
            request.topic_names = vec![topic_name(name)];
        }
        let response = conn.call(&request)?;
        let result = response.responses.into_iter().next().ok_or_else(|| {
            Error::broker(format!(
                "{} answered DeleteTopics without a result",
                conn.addr()
            ))
        })?;
        Ok((
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        ))
    })?;
    match code {
        0 => {
            wait_until_gone(cluster, name)?;
            Ok(Outcome::Done)
        }
        UNKNOWN_TOPIC_OR_PARTITION => Ok(Outcome::AlreadyThere),
        _ => Err(topic_error(code, message, name, "delete")),
    }
}

pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
}

pub struct TopicInfo {
    pub name: String,
    pub id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// All topics, sorted by name, each with its partitions sorted.
pub fn list_topics(cluster: &mut Cluster) -> Result<Vec<TopicInfo>> {
    let metadata = cluster.bootstrap().metadata(None)?;
    let mut topics: Vec<TopicInfo> = metadata
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .map(topic_info)
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

pub fn describe_topic(cluster: &mut Cluster, name: &str) -> Result<TopicInfo> {
    validate_topic_name(name)?;
    let metadata = cluster.bootstrap().metadata(Some(&[name]))?;
    let topic = metadata
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| Error::broker(format!("no metadata for topic '{name}'")))?;
    match topic.error_code {
        0 | LEADER_NOT_AVAILABLE => Ok(topic_info(topic)),
        UNKNOWN_TOPIC_OR_PARTITION => Err(Error::UnknownTopic {
            topic: name.to_string(),
            brokers: cluster.config.display(),
        }),
        code => Err(topic_error(code, None, name, "describe")),
    }
}

/// The topic's settings that differ from the broker's defaults.
pub fn topic_overrides(cluster: &mut Cluster, name: &str) -> Result<Vec<(String, String)>> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(name.to_string()))]);
    let response = cluster.bootstrap().call(&request)?;
    let mut out = Vec::new();
    for result in response.results {
        if result.error_code != 0 {
            return Err(topic_error(
                result.error_code,
                result.error_message.map(|m| m.to_string()),
                name,
                "describe the configs of",
            ));
        }
        for c in result.configs {
            if c.config_source == SOURCE_DYNAMIC_TOPIC {
                let value = match (c.is_sensitive, c.value) {
                    (true, _) => "(sensitive)".to_string(),
                    (false, Some(v)) => v.to_string(),
                    (false, None) => "null".to_string(),
                };
                out.push((c.name.to_string(), value));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn topic_info(t: kafka_protocol::messages::metadata_response::MetadataResponseTopic) -> TopicInfo {
    let ids = |v: &[kafka_protocol::messages::BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    let mut partitions: Vec<PartitionInfo> = t
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: p.leader_id.0,
            replicas: ids(&p.replica_nodes),
            isr: ids(&p.isr_nodes),
            offline: ids(&p.offline_replicas),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    TopicInfo {
        name: t.name.map(|n| n.0.to_string()).unwrap_or_default(),
        id: kafka_uuid(t.topic_id.as_bytes()),
        internal: t.is_internal,
        partitions,
    }
}

/// Kafka prints topic ids as URL-safe base64 without padding.
fn kafka_uuid(bytes: &[u8; 16]) -> String {
    use base64::Engine as _;
    if bytes.iter().all(|&b| b == 0) {
        return String::new();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Runs an admin request on the controller (ZooKeeper-mode brokers refuse
/// CreateTopics/DeleteTopics elsewhere), following a controller move within
/// the timeout. Also returns the number of live brokers, for messages.
pub(crate) fn with_controller<T>(
    cluster: &mut Cluster,
    mut request: impl FnMut(&mut Connection) -> Result<(i16, T)>,
) -> Result<((i16, T), usize)> {
    let deadline = Instant::now() + cluster.config.timeout;
    loop {
        let metadata = cluster.bootstrap().metadata(Some(&[]))?;
        let brokers = metadata.brokers.len();
        let controller = metadata.controller_id.0;
        let result = if controller < 0 {
            None
        } else {
            let mut conn = controller_connection(cluster, &metadata, controller)?;
            Some(request(&mut conn)?)
        };
        match result {
            Some((NOT_CONTROLLER, _)) | None if Instant::now() < deadline => {
                log::info!("controller moved or unknown; asking again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Some(r) => return Ok((r, brokers)),
            None => return Err(Error::broker("the cluster has no active controller")),
        }
    }
}

fn controller_connection(
    cluster: &mut Cluster,
    metadata: &MetadataResponse,
    controller: i32,
) -> Result<Connection> {
    cluster.connection_to(metadata, controller)
}

/// Waits until every partition of the new topic has a leader that serves
/// it; a topic whose leaders are not ready within the timeout is an error
/// (producing to it now would fail), though the topic itself exists.
fn wait_for_leaders(cluster: &mut Cluster, name: &str) -> Result<()> {
    let elected = wait_for(cluster, name, |m| {
        m.topics.iter().any(|t| {
            t.error_code == 0
                && !t.partitions.is_empty()
                && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
        })
    })?;
    // A KRaft broker is named leader in metadata a moment before it has
    // loaded the partition, and answers NOT_LEADER until then: wait until
    // every leader answers ListOffsets for its partitions.
    let timeout = cluster.config.timeout;
    let serving = elected && poll(timeout, || leaders_serve(cluster, name))?;
    leaders_ready(name, elected, serving, timeout, &cluster.config.display())
}

/// The outcome of waiting for a new topic's leaders: not ready in time is
/// an error, though the topic exists (producing to it now would fail).
fn leaders_ready(
    name: &str,
    elected: bool,
    serving: bool,
    timeout: Duration,
    brokers: &str,
) -> Result<()> {
    let what = match (elected, serving) {
        (true, true) => return Ok(()),
        (false, _) => "not every partition has a leader",
        (true, false) => "its leaders do not serve it yet",
    };
    Err(Error::broker_with_hint(
        format!(
            "topic '{name}' was created, but {what} after {} (brokers {brokers})",
            humantime::format_duration(timeout)
        ),
        hints::leaders_pending(name),
    ))
}

/// Whether every partition's leader answers ListOffsets for it without
/// error (KRaft names leaders in metadata before they have loaded the
/// partition). A partition without an answer is "not yet"; a lost
/// connection is an error.
fn leaders_serve(cluster: &mut Cluster, name: &str) -> Result<bool> {
    match list_offsets::offsets_at(cluster, name, At::Latest) {
        Ok(_) => Ok(true),
        Err(Error::Broker { .. } | Error::UnknownTopic { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Running out of time is only a warning here: the broker accepted the
/// deletion, and nothing the user does next depends on it being done.
fn wait_until_gone(cluster: &mut Cluster, name: &str) -> Result<()> {
    let gone = wait_for(cluster, name, |m| {
        m.topics
            .iter()
            .all(|t| t.error_code == UNKNOWN_TOPIC_OR_PARTITION)
    })?;
    if !gone {
        log::warn!("the brokers have not caught up with the deletion of topic '{name}' yet");
    }
    Ok(())
}

/// Polls the bootstrap broker's metadata for `name` until `done` (true) or
/// the timeout (false).
pub(crate) fn wait_for(
    cluster: &mut Cluster,
    name: &str,
    done: impl Fn(&MetadataResponse) -> bool,
) -> Result<bool> {
    let timeout = cluster.config.timeout;
    poll(timeout, || {
        let metadata = cluster.bootstrap().metadata(Some(&[name]))?;
        Ok(done(&metadata))
    })
}

/// Asks `check` every 50 ms until it says yes (true) or `within` has
/// passed (false); its errors end the wait.
pub(crate) fn poll(within: Duration, mut check: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + within;
    loop {
        if check()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn timeout_ms(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

/// A broker error code on a topic operation as one sentence and a hint.
pub(crate) fn topic_error(code: i16, message: Option<String>, topic: &str, action: &str) -> Error {
    let detail = message.filter(|m| !m.is_empty());
    let with_detail = |s: String| match &detail {
        Some(d) => format!("{s}: {d}"),
        None => s,
    };
    match code {
        TOPIC_ALREADY_EXISTS => Error::broker_with_hint(
            format!("topic '{topic}' already exists"),
            hints::if_not_exists(),
        ),
        UNKNOWN_TOPIC_OR_PARTITION => Error::UnknownTopic {
            topic: topic.to_string(),
            brokers: String::new(),
        },
        INVALID_TOPIC => Error::Usage(with_detail(format!("invalid topic name '{topic}'"))),
        INVALID_PARTITIONS => Error::broker(with_detail(format!(
            "cannot {action} topic '{topic}': invalid partition count"
        ))),
        INVALID_CONFIG => Error::broker_with_hint(
            with_detail(format!("cannot {action} topic '{topic}': invalid config")),
            "topic settings are listed in Kafka's documentation under Topic Configs",
        ),
        POLICY_VIOLATION => Error::broker(with_detail(format!(
            "cannot {action} topic '{topic}': refused by the broker's policy"
        ))),
        REQUEST_TIMED_OUT => Error::broker_with_hint(
            format!("the broker did not finish the request to {action} topic '{topic}' in time"),
            hints::check_topic_list(),
        ),
        TOPIC_AUTHORIZATION_FAILED | CLUSTER_AUTHORIZATION_FAILED => {
            let acl = match action {
                "create" => "Create",
                "delete" => "Delete",
                "alter" | "add partitions to" => "Alter",
                _ => "Describe",
            };
            codes::denied(TOPIC_AUTHORIZATION_FAILED, action, acl, || {
                format!("topic {topic}")
            })
            .unwrap_or_else(|| Error::broker(format!("not authorized to {action} topic '{topic}'")))
        }
        TOPIC_DELETION_DISABLED => Error::broker_with_hint(
            format!("cannot delete topic '{topic}': topic deletion is disabled on the broker"),
            "set delete.topic.enable=true in server.properties",
        ),
        _ => {
            let name = codes::name(code);
            Error::broker(with_detail(format!(
                "cannot {action} topic '{topic}': broker error {code} ({name})"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(validate_topic_name("sample").is_ok());
        assert!(validate_topic_name("a.b_c-D9").is_ok());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
        let msg = |n: &str| validate_topic_name(n).unwrap_err().to_string();
        assert!(msg("").contains("must not be empty"));
        assert!(msg("..").contains("not allowed"));
        assert!(msg(&"x".repeat(250)).contains("the limit is 249"));
        assert!(msg("bad name").contains("' ' is not allowed"));
        assert!(msg("café").contains("'é' is not allowed"));
    }

    #[test]
    fn topic_ids_print_like_kafka() {
        // Kafka's Uuid.toString of this id (from kafka-topics --describe).
        let bytes = [
            0x4b, 0x1e, 0x4d, 0x15, 0x2a, 0x9c, 0x4e, 0x0f, 0x8d, 0x2b, 0x3c, 0x77, 0x01, 0xfe,
            0xff, 0x10,
        ];
        let s = kafka_uuid(&bytes);
        assert_eq!(s.len(), 22);
        assert_eq!(s, "Sx5NFSqcTg-NKzx3Af7_EA");
        assert_eq!(kafka_uuid(&[0; 16]), "");
    }

    #[test]
    fn leaders_not_ready_in_time_is_an_error_not_created() {
        let t = Duration::from_millis(300);
        assert!(leaders_ready("t", true, true, t, "b:9092").is_ok());
        let e = leaders_ready("t", false, false, t, "b:9092").unwrap_err();
        assert_eq!(
            e.to_string(),
            "topic 't' was created, but not every partition has a leader after 300ms (brokers b:9092)"
        );
        assert_eq!(e.exit_code(), crate::error::ExitCode::Failure);
        assert_eq!(
            e.hint().as_deref(),
            Some("the brokers may still be electing leaders: check with `kafkademo topic describe t`, or give them longer with --timeout")
        );
        let e = leaders_ready("t", true, false, t, "b:9092").unwrap_err();
        assert_eq!(
            e.to_string(),
            "topic 't' was created, but its leaders do not serve it yet after 300ms (brokers b:9092)"
        );
    }

    #[test]
    fn polling_ends_with_yes_no_or_the_checks_error() {
        let mut n = 0;
        let yes = poll(Duration::from_secs(5), || {
            n += 1;
            Ok(n == 3)
        });
        assert!(yes.unwrap());
        let start = Instant::now();
        assert!(!poll(Duration::from_millis(120), || Ok(false)).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(120));
        let e = poll(Duration::from_secs(5), || Err(Error::broker("gone"))).unwrap_err();
        assert_eq!(e.to_string(), "gone");
    }
}
