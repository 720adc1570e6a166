//! Array counts in a broker's answer checked before kafka-protocol decodes
//! it. Its decoders reserve `Vec::with_capacity(count)` from each count on
//! the wire, so a few bytes claiming 2^31 items would make the allocator
//! abort the process. Here every answer kafkademo decodes is walked field
//! by field as Kafka's message schemas lay it out (`answer_schema`,
//! generated from them), and every item an array claims must be there, so
//! no count exceeds the bytes of the frame (docs/hostile-input.md).

// The table is generated (scripts/gen-answer-schemas.py) and read only here.
#[path = "answer_schema.rs"]
#[rustfmt::skip]
mod answer_schema;

use crate::client::modern::batch::varint::{self, Malformed};
use answer_schema::{
    Kind, Message, Versions, CONSUMER_PROTOCOL_ASSIGNMENT_DATA,
    CONSUMER_PROTOCOL_SUBSCRIPTION_DATA, F, MESSAGES,
};

/// Why an answer is refused.
pub type Refusal = String;

type Step = Result<(), Refusal>;

/// Checks the body (after the response header) of an answer to API `key`
/// at `version`. Ok for an API or version it does not know.
pub fn check(key: i16, version: i16, body: &[u8]) -> Step {
    match schema(key, version) {
        Some(message) => walk(message, version, body).map(drop),
        None => Ok(()),
    }
}

/// Checks a member's subscription (after its version) as the consumer
/// protocol lays it out at `version`; bytes after it are a later version's
/// and left alone, as Kafka's consumer leaves them.
pub fn check_subscription(version: i16, body: &[u8]) -> Step {
    walk(&CONSUMER_PROTOCOL_SUBSCRIPTION_DATA, version, body).map(drop)
}

/// Checks a member's assignment (after its version), as `check_subscription`.
pub fn check_assignment(version: i16, body: &[u8]) -> Step {
    walk(&CONSUMER_PROTOCOL_ASSIGNMENT_DATA, version, body).map(drop)
}

/// Walks `body` as `message` at `version`; what follows the answer is left.
fn walk<'a>(message: &Message, version: i16, body: &'a [u8]) -> Result<&'a [u8], Refusal> {
    let mut w = Walk {
        buf: body,
        version,
        flexible: version >= message.flexible_from,
    };
    w.fields(message.fields)?;
    Ok(w.buf)
}

/// The schema of API `key`'s answer, when it defines `version`.
fn schema(key: i16, version: i16) -> Option<&'static Message> {
    MESSAGES
        .iter()
        .find(|m| m.key == key && within(m.versions, version))
}

fn within((low, high): Versions, version: i16) -> bool {
    low <= version && version <= high
}

/// A cursor over an answer's bytes that only checks, never keeps.
struct Walk<'a> {
    buf: &'a [u8],
    version: i16,
    /// Compact strings, bytes and arrays, and tagged fields (KIP-482).
    flexible: bool,
}

impl Walk<'_> {
    fn fixed(&mut self, n: usize) -> Step {
        if n > self.buf.len() {
            return Err(format!(
                "cut short: {n} bytes wanted, {} left",
                self.buf.len()
            ));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    fn int32(&mut self) -> Result<i32, Refusal> {
        let b = self.buf.get(..4).ok_or("cut short inside a length")?;
        let v = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        self.buf = &self.buf[4..];
        Ok(v)
    }

    fn int16(&mut self) -> Result<i16, Refusal> {
        let b = self.buf.get(..2).ok_or("cut short inside a length")?;
        let v = i16::from_be_bytes([b[0], b[1]]);
        self.buf = &self.buf[2..];
        Ok(v)
    }

    fn uvarint(&mut self) -> Result<u32, Refusal> {
        match varint::read_unsigned(&mut self.buf, 5) {
            Ok(v) => Ok(v as u32),
            Err(Malformed::CutShort) => Err("cut short inside a varint".into()),
            Err(Malformed::TooLong) => Err("a varint longer than 5 bytes".into()),
        }
    }

    /// A length: -1 (or compact 0) is null, other negatives are refused.
    fn length(&mut self, classic: i32) -> Result<usize, Refusal> {
        if self.flexible {
            return Ok((self.uvarint()? as usize).saturating_sub(1));
        }
        match classic {
            -1 => Ok(0),
            n => usize::try_from(n).map_err(|_| format!("a length of {n}")),
        }
    }

    /// A (nullable) string: i16 length, or compact.
    fn string(&mut self) -> Step {
        let classic = if self.flexible {
            0
        } else {
            i32::from(self.int16()?)
        };
        let n = self.length(classic)?;
        self.fixed(n)
    }

    /// (Nullable) bytes: i32 length, or compact.
    fn bytes(&mut self) -> Step {
        let classic = if self.flexible { 0 } else { self.int32()? };
        let n = self.length(classic)?;
        self.fixed(n)
    }

    /// A (nullable) array whose every claimed item is walked as `item`.
    fn array(&mut self, item: &Kind) -> Step {
        let classic = if self.flexible { 0 } else { self.int32()? };
        let n = self.length(classic)?;
        // Every item takes at least one byte: a count past the bytes left
        // is a lie, refused before any item is walked.
        if n > self.buf.len() {
            return Err(format!(
                "an array of {n} items where {} bytes are left",
                self.buf.len()
            ));
        }
        for _ in 0..n {
            self.value(item, false)?;
        }
        Ok(())
    }

    /// One value of `kind`; a nullable struct starts with a presence byte.
    fn value(&mut self, kind: &Kind, nullable: bool) -> Step {
        match kind {
            Kind::Fixed(n) => self.fixed(usize::from(*n)),
            Kind::String => self.string(),
            Kind::Bytes => self.bytes(),
            Kind::Array(item) => self.array(item),
            Kind::Struct(fields) => {
                if nullable {
                    let present = self.buf.first().ok_or("cut short inside a struct")?;
                    let present = (*present as i8) >= 0;
                    self.buf = &self.buf[1..];
                    if !present {
                        return Ok(());
                    }
                }
                self.fields(fields)
            }
        }
    }

    /// A struct: its fields of this version in order, then (flexible
    /// versions) its tagged fields.
    fn fields(&mut self, fields: &[F]) -> Step {
        let v = self.version;
        for f in fields {
            if f.tag < 0 && within(f.versions, v) {
                self.value(&f.kind, within(f.nullable, v))?;
            }
        }
        if self.flexible {
            self.tags(fields)?;
        }
        Ok(())
    }

    /// The tagged fields: a count, then each tag with its size. A tag the
    /// schema knows at this version is walked within its size and must fill
    /// it exactly, so kafka-protocol (which decodes the tags it knows and
    /// skips the others by size) ends where the walk ends; the others are
    /// skipped by their size.
    fn tags(&mut self, fields: &[F]) -> Step {
        let v = self.version;
        let n = self.uvarint()?;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let known = fields.iter().find(|f| {
                i64::from(f.tag) == i64::from(tag) && within(f.versions, v) && within(f.tagged, v)
            });
            let Some(f) = known else {
                self.fixed(size)?;
                continue;
            };
            if size > self.buf.len() {
                return Err(format!(
                    "a tagged field of {size} bytes where {} are left",
                    self.buf.len()
                ));
            }
            let (inside, after) = self.buf.split_at(size);
            let mut sub = Walk {
                buf: inside,
                version: v,
                flexible: self.flexible,
            };
            sub.value(&f.kind, within(f.nullable, v))?;
            if !sub.buf.is_empty() {
                return Err(format!(
                    "tagged field {tag} announces {size} bytes and holds {}",
                    size - sub.buf.len()
                ));
            }
            self.buf = after;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::api_versions_response::{ApiVersion, SupportedFeatureKey};
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
    };
    use kafka_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::produce_response::{
        BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, Encodable, Message as _, Request, StrBytes};

    /// Calls `$each!(XRequest)` for every API whose answer kafkademo
    /// decodes (every `XRequest` built under src/client).
    macro_rules! every_answer {
        ($each:ident) => {
            $each!(AddOffsetsToTxnRequest);
            $each!(AddPartitionsToTxnRequest);
            $each!(AlterPartitionReassignmentsRequest);
            $each!(ApiVersionsRequest);
            $each!(CreatePartitionsRequest);
            $each!(CreateTopicsRequest);
            $each!(DeleteGroupsRequest);
            $each!(DeleteRecordsRequest);
            $each!(DeleteTopicsRequest);
            $each!(DescribeClusterRequest);
            $each!(DescribeConfigsRequest);
            $each!(DescribeGroupsRequest);
            $each!(DescribeTransactionsRequest);
            $each!(ElectLeadersRequest);
            $each!(EndTxnRequest);
            $each!(FetchRequest);
            $each!(FindCoordinatorRequest);
            $each!(HeartbeatRequest);
            $each!(IncrementalAlterConfigsRequest);
            $each!(InitProducerIdRequest);
            $each!(JoinGroupRequest);
            $each!(LeaveGroupRequest);
            $each!(ListGroupsRequest);
            $each!(ListOffsetsRequest);
            $each!(ListPartitionReassignmentsRequest);
            $each!(ListTransactionsRequest);
            $each!(MetadataRequest);
            $each!(OffsetCommitRequest);
            $each!(OffsetFetchRequest);
            $each!(ProduceRequest);
            $each!(SaslAuthenticateRequest);
            $each!(SaslHandshakeRequest);
            $each!(SyncGroupRequest);
            $each!(TxnOffsetCommitRequest);
        };
    }

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    fn encoded(m: &impl Encodable, v: i16) -> Bytes {
        let mut b = BytesMut::new();
        m.encode(&mut b, v).unwrap();
        b.freeze()
    }

    /// Walks `m` as encoded at `v` and asserts the walk ends at its last byte.
    fn walks_whole<R: Request>(m: &R::Response, v: i16) {
        walks_whole_bytes(R::KEY, v, &encoded(m, v));
    }

    fn walks_whole_bytes(key: i16, v: i16, body: &[u8]) {
        let message = schema(key, v).unwrap_or_else(|| panic!("key {key} v{v}: no schema"));
        match walk(message, v, body) {
            Ok(left) => assert!(left.is_empty(), "key {key} v{v}: {} bytes left", left.len()),
            Err(e) => panic!("key {key} v{v}: {e}"),
        }
        assert_eq!(check(key, v, body), Ok(()));
        // Cut anywhere, the walk fails instead of reading past the end.
        for cut in 0..body.len() {
            if let Ok(()) = check(key, v, &body[..cut]) {
                // Only a prefix that is itself a whole answer passes (none here
                // but the ones whose last field is an empty tag section).
                assert!(cut + 1 >= body.len(), "key {key} v{v} cut at {cut}");
            }
        }
    }

    /// An answer with every field of `fields` at `v` present: two items in
    /// each array, a short string or bytes in each nullable, each tagged
    /// field the version has, and one tag no schema knows.
    fn populated(fields: &[F], v: i16, flexible: bool, out: &mut Vec<u8>) {
        fn varint(n: u32, out: &mut Vec<u8>) {
            crate::client::modern::batch::varint::put_unsigned(out, u64::from(n));
        }
        fn value(kind: &Kind, nullable: bool, v: i16, flexible: bool, out: &mut Vec<u8>) {
            let length = |n: usize, classic: usize, out: &mut Vec<u8>| {
                if flexible {
                    varint(n as u32 + 1, out);
                } else {
                    out.extend_from_slice(&(n as u32).to_be_bytes()[4 - classic..]);
                }
            };
            match kind {
                Kind::Fixed(n) => out.extend(std::iter::repeat_n(1, usize::from(*n))),
                Kind::String => {
                    length(2, 2, out);
                    out.extend_from_slice(b"ab");
                }
                Kind::Bytes => {
                    length(3, 4, out);
                    out.extend_from_slice(b"xyz");
                }
                Kind::Array(item) => {
                    length(2, 4, out);
                    value(item, false, v, flexible, out);
                    value(item, false, v, flexible, out);
                }
                Kind::Struct(fields) => {
                    if nullable {
                        out.push(1);
                    }
                    populated(fields, v, flexible, out);
                }
            }
        }
        for f in fields {
            if f.tag < 0 && within(f.versions, v) {
                value(&f.kind, within(f.nullable, v), v, flexible, out);
            }
        }
        if !flexible {
            return;
        }
        let mut tagged: Vec<&F> = fields
            .iter()
            .filter(|f| f.tag >= 0 && within(f.versions, v) && within(f.tagged, v))
            .collect();
        tagged.sort_by_key(|f| f.tag);
        varint(tagged.len() as u32 + 1, out);
        for f in tagged {
            let mut inside = Vec::new();
            value(&f.kind, within(f.nullable, v), v, flexible, &mut inside);
            varint(f.tag as u32, out);
            varint(inside.len() as u32, out);
            out.extend_from_slice(&inside);
        }
        // A tag no schema has (yet): skipped by its size.
        varint(1000, out);
        varint(3, out);
        out.extend_from_slice(b"new");
    }

    /// Answers kafka-protocol fills and encodes itself, with the tagged
    /// fields it knows set, for the APIs every command goes through.
    #[test]
    fn every_version_kafkademo_decodes_is_walked_to_its_last_byte() {
        let extra = || {
            let mut t = std::collections::BTreeMap::new();
            t.insert(77, Bytes::from_static(b"xyz"));
            t
        };
        for v in 0..=4 {
            let mut r = ApiVersionsResponse::default().with_api_keys(vec![
                ApiVersion::default()
                    .with_api_key(1)
                    .with_max_version(12);
                3
            ]);
            if v >= 3 {
                r = r
                    .with_supported_features(vec![SupportedFeatureKey::default()
                        .with_name(StrBytes::from_static_str("metadata.version"))])
                    .with_finalized_features_epoch(7)
                    .with_unknown_tagged_fields(extra());
            }
            walks_whole::<ApiVersionsRequest>(&r, v);
        }
        for v in 1..=13 {
            let partition = MetadataResponsePartition::default()
                .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                .with_isr_nodes(vec![BrokerId(1)])
                .with_offline_replicas(if v >= 5 { vec![BrokerId(2)] } else { vec![] });
            let mut topic = MetadataResponseTopic::default()
                .with_name(Some(name("t")))
                .with_partitions(vec![partition.clone(), partition]);
            if v >= 9 {
                topic = topic.with_unknown_tagged_fields(extra());
            }
            let r = MetadataResponse::default()
                .with_brokers(vec![MetadataResponseBroker::default()
                    .with_host(StrBytes::from_static_str("h"))
                    .with_rack(Some(StrBytes::from_static_str("r")))])
                .with_topics(vec![topic]);
            walks_whole::<MetadataRequest>(&r, v);
        }
        for v in 4..=12 {
            let mut p = PartitionData::default()
                .with_records(Some(Bytes::from_static(b"records")))
                .with_aborted_transactions(Some(vec![
                    AbortedTransaction::default().with_producer_id(ProducerId(3))
                ]));
            if v >= 12 {
                p = p
                    .with_diverging_epoch(EpochEndOffset::default().with_epoch(4))
                    .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(2)))
                    .with_unknown_tagged_fields(extra());
            }
            let r = FetchResponse::default()
                .with_responses(vec![FetchableTopicResponse::default()
                    .with_topic(name("t"))
                    .with_partitions(vec![p.clone(), p])]);
            walks_whole::<FetchRequest>(&r, v);
        }
        for v in 1..=10 {
            let r = ListOffsetsResponse::default().with_topics(vec![
                ListOffsetsTopicResponse::default()
                    .with_name(name("t"))
                    .with_partitions(vec![ListOffsetsPartitionResponse::default(); 2]),
            ]);
            walks_whole::<ListOffsetsRequest>(&r, v);
        }
        for v in 3..=12 {
            let mut p = PartitionProduceResponse::default();
            if v >= 8 {
                p = p
                    .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                        .with_batch_index_error_message(Some(StrBytes::from_static_str("e")))])
                    .with_error_message(Some(StrBytes::from_static_str("m")));
            }
            let r = ProduceResponse::default()
                .with_responses(vec![TopicProduceResponse::default()
                    .with_name(name("t"))
                    .with_partition_responses(vec![p.clone(), p])]);
            walks_whole::<ProduceRequest>(&r, v);
        }
        for v in 0..=1 {
            let r = SaslHandshakeResponse::default().with_mechanisms(vec![
                StrBytes::from_static_str("PLAIN"),
                StrBytes::from_static_str("SCRAM-SHA-256"),
            ]);
            walks_whole::<SaslHandshakeRequest>(&r, v);
        }
        for v in 0..=2 {
            let r = SaslAuthenticateResponse::default()
                .with_auth_bytes(Bytes::from_static(b"r=nonce,s=salt,i=4096"));
            walks_whole::<SaslAuthenticateRequest>(&r, v);
        }
    }

    /// For every API and every version kafka-protocol decodes: the table
    /// has its schema; its default answer, as kafka-protocol encodes it, is
    /// walked to its last byte; an answer with every field present, made
    /// from the table, is decoded by kafka-protocol to its last byte (the
    /// table and the crate agree on the layout) and, encoded again, walked
    /// to its last byte.
    #[test]
    fn every_answer_kafkademo_decodes_agrees_with_kafka_protocol() {
        let mut apis = 0;
        let mut versions = 0;
        macro_rules! each {
            ($request:ty) => {{
                type Answer = <$request as Request>::Response;
                let key = <$request as Request>::KEY;
                let range = <Answer>::VERSIONS;
                for v in range.min..=range.max {
                    walks_whole::<$request>(&Answer::default(), v);
                    let message = schema(key, v).unwrap();
                    let mut body = Vec::new();
                    populated(message.fields, v, v >= message.flexible_from, &mut body);
                    walks_whole_bytes(key, v, &body);
                    let mut b = Bytes::copy_from_slice(&body);
                    let answer = Answer::decode(&mut b, v)
                        .unwrap_or_else(|e| panic!("key {key} v{v}: kafka-protocol: {e}"));
                    assert_eq!(b.len(), 0, "key {key} v{v}: kafka-protocol left bytes");
                    // Every tag the table gave, kafka-protocol decoded as the
                    // same field: the only tag it kept unknown is the new one
                    // (a struct absent at this version shows none).
                    let shown = format!("{answer:?}");
                    for (at, _) in shown.match_indices("unknown_tagged_fields: ") {
                        let rest = &shown[at + "unknown_tagged_fields: ".len()..];
                        assert!(
                            rest.starts_with("{}") || rest.starts_with("{1000: b\"new\"}"),
                            "key {key} v{v}: {shown}"
                        );
                    }
                    let again = encoded(&answer, v);
                    walks_whole_bytes(key, v, &again);
                    assert_eq!(again.len(), body.len(), "key {key} v{v}");
                    versions += 1;
                }
                apis += 1;
            }};
        }
        every_answer!(each);
        assert_eq!(apis, MESSAGES.len());
        assert!(versions > 150, "{versions}");
    }

    #[test]
    fn a_count_past_the_bytes_left_is_refused_before_decoding() {
        // Metadata v1: no brokers, no cluster id... then 2^31-1 topics in 4 bytes.
        let mut body = Vec::new();
        body.extend_from_slice(&0i32.to_be_bytes()); // brokers: none
        body.extend_from_slice(&0i32.to_be_bytes()); // controller
        body.extend_from_slice(&i32::MAX.to_be_bytes()); // topics
        let e = check(MetadataRequest::KEY, 1, &body).unwrap_err();
        assert_eq!(e, "an array of 2147483647 items where 0 bytes are left");
        // A compact (flexible) count: Fetch v12's topics.
        let mut body = vec![0; 10];
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        let e = check(FetchRequest::KEY, 12, &body).unwrap_err();
        assert!(e.starts_with("an array of 2147483646 items"), "{e}");
        // A negative classic count other than -1.
        let e = check(SaslHandshakeRequest::KEY, 1, &[0, 0, 0x80, 0, 0, 0]).unwrap_err();
        assert_eq!(e, "a length of -2147483648");
        // A group answer: FindCoordinator v4 (throttle time, then compact
        // coordinators) claiming 2^31-1 coordinators.
        let mut body = vec![0; 4];
        body.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
        let e = check(FindCoordinatorRequest::KEY, 4, &body).unwrap_err();
        assert_eq!(e, "an array of 2147483647 items where 0 bytes are left");
        // JoinGroup v5 (classic): 2^31-1 members after the leader and member id.
        let mut body = vec![0; 4 + 2 + 4];
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // protocol, leader, member id
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        let e = check(JoinGroupRequest::KEY, 5, &body).unwrap_err();
        assert_eq!(e, "an array of 2147483647 items where 0 bytes are left");
    }

    #[test]
    fn a_tagged_field_must_fill_the_size_it_announces() {
        // ApiVersions v3: no error, no APIs, throttle time, then tag 1
        // (the finalized features epoch, an i64) announced as 9 bytes.
        let mut body = vec![0, 0, 1, 0, 0, 0, 0, 1, 1, 9];
        body.extend_from_slice(&[0; 9]);
        body.push(0);
        let e = check(ApiVersionsRequest::KEY, 3, &body).unwrap_err();
        assert_eq!(e, "tagged field 1 announces 9 bytes and holds 8");
        // A tag it does not know is skipped by its size, whatever it holds.
        body[8] = 99;
        assert_eq!(check(ApiVersionsRequest::KEY, 3, &body), Ok(()));
        // A size past the end.
        let body = [0, 0, 1, 0, 0, 0, 0, 1, 1, 9, 0];
        let e = check(ApiVersionsRequest::KEY, 3, &body).unwrap_err();
        assert_eq!(e, "a tagged field of 9 bytes where 1 are left");
    }

    proptest::proptest! {
        // No regression files: the repository's top level is fixed, and
        // a failure prints its minimal input.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Whatever the bytes, the check ends; and what it lets through,
        /// kafka-protocol decodes (or refuses) without reserving for counts
        /// the bytes do not hold (an abort would end this test process).
        #[test]
        fn arbitrary_answers_are_checked_then_decoded_safely(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            v in 0i16..19,
        ) {
            macro_rules! each {
                ($request:ty) => {{
                    type Answer = <$request as Request>::Response;
                    let range = <Answer>::VERSIONS;
                    let key = <$request as Request>::KEY;
                    if (range.min..=range.max).contains(&v) && check(key, v, &body).is_ok() {
                        let _ = Answer::decode(&mut Bytes::copy_from_slice(&body), v);
                    }
                }};
            }
            every_answer!(each);
        }

        /// The same for whole answers with a few bytes overwritten (a count
        /// or a length turned huge, a tag's size changed, ...), which get
        /// much further into each answer than arbitrary bytes do.
        #[test]
        fn mutated_answers_are_checked_then_decoded_safely(
            v in 0i16..19,
            at in proptest::collection::vec((0usize..10_000, proptest::prelude::any::<u8>()), 1..4),
        ) {
            macro_rules! each {
                ($request:ty) => {{
                    type Answer = <$request as Request>::Response;
                    let key = <$request as Request>::KEY;
                    if let Some(message) = schema(key, v) {
                        let mut body = Vec::new();
                        populated(message.fields, v, v >= message.flexible_from, &mut body);
                        for &(i, byte) in &at {
                            let i = i % body.len();
                            body[i] = byte;
                        }
                        if check(key, v, &body).is_ok() {
                            let _ = Answer::decode(&mut Bytes::copy_from_slice(&body), v);
                        }
                    }
                }};
            }
            every_answer!(each);
        }
    }
}
