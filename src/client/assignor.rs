//! The Java consumer's partition assignors (`range`, `roundrobin`) and the
//! consumer protocol's subscription and assignment bytes, in the Java
//! client's layout so Kafka's own tools describe our groups. Pure logic,
//! no I/O.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::client::answer_check;

use crate::client::connection::topic_name;

/// The Java consumer's assignors. `range`: per topic, members in id order
/// get consecutive runs, the first ones one partition more. `roundrobin`:
/// all partitions in order dealt to the members in id order.
pub fn assign(
    protocol: &str,
    subscriptions: &[(String, Vec<String>)],
    counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut plan: BTreeMap<String, BTreeMap<String, Vec<i32>>> = subscriptions
        .iter()
        .map(|(m, _)| (m.clone(), BTreeMap::new()))
        .collect();
    let subscribers = |topic: &str| -> Vec<&String> {
        let mut ms: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| t == topic))
            .map(|(m, _)| m)
            .collect();
        ms.sort();
        ms
    };
    if protocol == "roundrobin" {
        let mut turn = 0usize;
        let mut members: Vec<&String> = subscriptions.iter().map(|(m, _)| m).collect();
        members.sort();
        for (topic, &n) in counts {
            for p in 0..n {
                // the next member, in turn, that subscribes to this topic
                for _ in 0..members.len() {
                    let m = members[turn % members.len()];
                    turn += 1;
                    if subscribers(topic).contains(&m) {
                        plan.entry(m.clone())
                            .or_default()
                            .entry(topic.clone())
                            .or_default()
                            .push(p);
                        break;
                    }
                }
            }
        }
        return plan;
    }
    for (topic, &n) in counts {
        let members = subscribers(topic);
        if members.is_empty() {
            continue;
        }
        let per = n / members.len() as i32;
        let extra = n % members.len() as i32;
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            let ps: Vec<i32> = (next..next + take).collect();
            next += take;
            plan.entry((*m).clone())
                .or_default()
                .insert(topic.clone(), ps);
        }
    }
    plan
}

/// Subscription bytes: i16 version, then ConsumerProtocolSubscription v0.
pub fn encode_subscription(topic: &str) -> Result<Bytes, String> {
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_string(topic.to_string())]);
    versioned(0, |b| sub.encode(b, 0))
}

/// The topics in a member's subscription.
pub fn decode_subscription(bytes: &Bytes) -> Result<Vec<String>, String> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Err(format!(
            "a subscription of {} bytes is too short",
            bytes.len()
        ));
    }
    let version = b.get_i16().clamp(0, 3);
    // Counts checked first: kafka-protocol reserves memory for each.
    answer_check::check_subscription(version, &b)
        .map_err(|e| format!("unreadable subscription: {e}"))?;
    ConsumerProtocolSubscription::decode(&mut b, version)
        .map(|s| s.topics.iter().map(|t| t.to_string()).collect())
        .map_err(|e| format!("unreadable subscription: {e}"))
}

pub fn encode_assignment(topics: &BTreeMap<String, Vec<i32>>) -> Result<Bytes, String> {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        topics
            .iter()
            .map(|(t, ps)| {
                AssignedPartitions::default()
                    .with_topic(topic_name(t))
                    .with_partitions(ps.clone())
            })
            .collect(),
    );
    versioned(0, |b| assignment.encode(b, 0))
}

/// (topic, partitions) pairs of an assignment.
pub fn decode_assignment(bytes: &Bytes) -> Result<Vec<(String, Vec<i32>)>, String> {
    let mut b = bytes.clone();
    if b.remaining() < 2 {
        return Err(format!(
            "an assignment of {} bytes is too short",
            bytes.len()
        ));
    }
    let version = b.get_i16().clamp(0, 3);
    // Counts checked first: kafka-protocol reserves memory for each.
    answer_check::check_assignment(version, &b)
        .map_err(|e| format!("unreadable assignment: {e}"))?;
    ConsumerProtocolAssignment::decode(&mut b, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .map(|tp| (tp.topic.0.to_string(), tp.partitions))
                .collect()
        })
        .map_err(|e| format!("unreadable assignment: {e}"))
}

fn versioned<E: std::fmt::Display>(
    version: i16,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<Bytes, String> {
    let mut b = BytesMut::new();
    b.put_i16(version);
    encode(&mut b).map_err(|e| format!("cannot encode group protocol metadata: {e}"))?;
    Ok(b.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(members: &[&str], topic: &str) -> Vec<(String, Vec<String>)> {
        members
            .iter()
            .map(|m| (m.to_string(), vec![topic.to_string()]))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_runs_first_members_more() {
        let counts = BTreeMap::from([("t".to_string(), 4)]);
        let plan = assign("range", &subs(&["b", "a", "c"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0, 1]);
        assert_eq!(plan["b"]["t"], vec![2]);
        assert_eq!(plan["c"]["t"], vec![3]);
        let plan = assign("range", &subs(&["a", "b"], "t"), &counts);
        assert_eq!(
            (plan["a"]["t"].clone(), plan["b"]["t"].clone()),
            (vec![0, 1], vec![2, 3])
        );
    }

    #[test]
    fn roundrobin_deals_partitions_in_turn() {
        let counts = BTreeMap::from([("t".to_string(), 4)]);
        let plan = assign("roundrobin", &subs(&["a", "b", "c"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0, 3]);
        assert_eq!(plan["b"]["t"], vec![1]);
        assert_eq!(plan["c"]["t"], vec![2]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let counts = BTreeMap::from([("t".to_string(), 1)]);
        let plan = assign("range", &subs(&["a", "b"], "t"), &counts);
        assert_eq!(plan["a"]["t"], vec![0]);
        assert!(plan["b"]["t"].is_empty());
    }

    #[test]
    fn subscription_and_assignment_bytes_round_trip() {
        assert_eq!(
            decode_subscription(&encode_subscription("orders").unwrap()).unwrap(),
            vec!["orders"]
        );
        let a = BTreeMap::from([("orders".to_string(), vec![1, 3])]);
        let bytes = encode_assignment(&a).unwrap();
        assert_eq!(
            &bytes[..2],
            &[0, 0],
            "Java's layout starts with an i16 version"
        );
        assert_eq!(
            decode_assignment(&bytes).unwrap(),
            vec![("orders".to_string(), vec![1, 3])]
        );
        assert!(decode_assignment(&Bytes::from_static(b"\x00")).is_err());
    }

    /// A member's bytes claiming 2^31-1 topics (a malicious member or
    /// broker) are refused before kafka-protocol reserves for them; every
    /// version kafka-protocol writes, filled in, passes the check.
    #[test]
    fn consumer_protocol_counts_are_checked_before_decoding() {
        let mut lying = vec![0u8, 0];
        lying.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = decode_subscription(&Bytes::from(lying.clone())).unwrap_err();
        assert!(e.contains("2147483647"), "{e}");
        let e = decode_assignment(&Bytes::from(lying)).unwrap_err();
        assert!(e.contains("2147483647"), "{e}");
        for v in 0..=3i16 {
            let sub = ConsumerProtocolSubscription::default()
                .with_topics(vec![StrBytes::from_static_str("a"), StrBytes::from_static_str("b")])
                .with_user_data(Some(Bytes::from_static(b"u")))
                .with_owned_partitions(vec![
                    kafka_protocol::messages::consumer_protocol_subscription::TopicPartition::default()
                        .with_topic(topic_name("a"))
                        .with_partitions(vec![0, 1]),
                ])
                .with_generation_id(3)
                .with_rack_id(Some(StrBytes::from_static_str("r1")));
            let bytes = versioned(v, |b| sub.encode(b, v)).unwrap();
            assert_eq!(decode_subscription(&bytes).unwrap(), ["a", "b"], "v{v}");
            let mut topics = BTreeMap::new();
            topics.insert("a".to_string(), vec![0, 2]);
            let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
                AssignedPartitions::default()
                    .with_topic(topic_name("a"))
                    .with_partitions(vec![0, 2]),
            ]);
            let bytes = versioned(v, |b| assignment.encode(b, v)).unwrap();
            assert_eq!(
                decode_assignment(&bytes).unwrap(),
                [("a".to_string(), vec![0, 2])],
                "v{v}"
            );
        }
        assert!(decode_assignment(&Bytes::from_static(b"\x00\x00\x00\x00\x00\x09ab")).is_err());
        assert!(decode_subscription(&Bytes::from_static(b"\x00\x00\xff")).is_err());
    }
}
