//! A scripted stand-in for a Kafka broker, for unit tests of answers a real
//! broker gives only in bad moments (no leader yet, a partition missing from
//! an answer, an error code): it answers ApiVersions itself and every other
//! request with what the test's closure returns.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, CreateTopicsRequest, CreateTopicsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::client::connection::topic_name;

/// The requests a test can script; any other request ends the connection.
/// (Which fields a test reads depends on the test.)
#[derive(Debug)]
#[allow(dead_code)]
pub enum Request {
    Metadata(MetadataRequest),
    CreateTopics(CreateTopicsRequest),
    ListOffsets(ListOffsetsRequest),
}

pub enum Response {
    Metadata(MetadataResponse),
    CreateTopics(CreateTopicsResponse),
    ListOffsets(ListOffsetsResponse),
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Listens on a free loopback port until the test process ends.
pub struct FakeBroker {
    pub addr: String,
    pub port: i32,
}

impl FakeBroker {
    /// `answer` gets every request but ApiVersions (every API is offered in
    /// the versions `kafka-protocol` knows) and returns the response to send.
    pub fn start(answer: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let answer: Arc<Handler> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let answer = answer.clone();
                std::thread::spawn(move || serve(stream, &*answer));
            }
        });
        FakeBroker {
            addr: format!("127.0.0.1:{port}"),
            port: i32::from(port),
        }
    }

    /// Metadata naming this fake as broker 0 (and controller), with `topic`
    /// and one entry per (partition, leader) when a topic is given.
    pub fn metadata(&self, topic: Option<(&str, &[(i32, i32)])>) -> MetadataResponse {
        let topics = topic.map_or_else(Vec::new, |(name, partitions)| {
            vec![MetadataResponseTopic::default()
                .with_name(Some(topic_name(name)))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&(p, leader)| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(leader))
                                .with_replica_nodes(vec![BrokerId(0)])
                                .with_isr_nodes(vec![BrokerId(0)])
                        })
                        .collect(),
                )]
        });
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(0))
                .with_host(kafka_protocol::protocol::StrBytes::from_static_str(
                    "127.0.0.1",
                ))
                .with_port(self.port)])
            .with_controller_id(BrokerId(0))
            .with_topics(topics)
    }
}

fn serve(mut stream: TcpStream, answer: &Handler) {
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let mut buf = Bytes::from(body);
        let key = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, key.request_header_version(version)).unwrap();
        let request = match key {
            ApiKey::ApiVersions => None,
            ApiKey::Metadata => Some(Request::Metadata(decode(&mut buf, version))),
            ApiKey::CreateTopics => Some(Request::CreateTopics(decode(&mut buf, version))),
            ApiKey::ListOffsets => Some(Request::ListOffsets(decode(&mut buf, version))),
            _ => return,
        };
        let mut out = BytesMut::new();
        out.extend_from_slice(&[0; 4]);
        let header_version = match key {
            ApiKey::ApiVersions => 0,
            _ => key.response_header_version(version),
        };
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, header_version)
            .unwrap();
        match request.map(|r| answer(&r)) {
            None => ApiVersionsResponse::default()
                .with_api_keys(
                    ApiKey::iter()
                        .map(|k| {
                            let range = k.valid_versions();
                            ApiVersion::default()
                                .with_api_key(k as i16)
                                .with_min_version(range.min)
                                .with_max_version(range.max)
                        })
                        .collect(),
                )
                .encode(&mut out, version),
            Some(Response::Metadata(r)) => r.encode(&mut out, version),
            Some(Response::CreateTopics(r)) => r.encode(&mut out, version),
            Some(Response::ListOffsets(r)) => r.encode(&mut out, version),
        }
        .unwrap();
        let size = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&size.to_be_bytes());
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

fn decode<T: Decodable>(buf: &mut Bytes, version: i16) -> T {
    T::decode(buf, version).unwrap()
}
