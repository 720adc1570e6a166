//! What the transaction coordinators know, for `kafkademo transactions`:
//! every transactional id each broker coordinates (ListTransactions, asked
//! of every broker, as kafka-transactions.sh's `list` does) and one id's
//! state in detail (FindCoordinator, then DescribeTransactions). Both APIs
//! came with Kafka 3.0 (KIP-664).

use kafka_protocol::messages::{
    DescribeTransactionsRequest, FindCoordinatorRequest, ListTransactionsRequest, MetadataResponse,
    TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;

use crate::client::cluster::{join_host_port, Cluster};
use crate::client::codes;
use crate::client::connection::Connection;
use crate::error::{Error, Result};

const KEY_TYPE_TRANSACTION: i8 = 1;

/// One transactional id as its coordinator lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub transactional_id: String,
    /// The broker id of its coordinator.
    pub coordinator: i32,
    pub producer_id: i64,
    /// Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort,
    /// Empty, Dead or PrepareEpochFence.
    pub state: String,
}

/// One transactional id in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Described {
    pub transactional_id: String,
    pub coordinator: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub state: String,
    pub timeout_ms: i32,
    /// When the open transaction started (ms since the epoch); -1 if none.
    pub start_time_ms: i64,
    /// The partitions in the open transaction.
    pub partitions: Vec<(String, i32)>,
}

/// Every transactional id every broker coordinates, sorted by id; `states`
/// keeps only those in one of these states (empty: all).
pub fn list(cluster: &mut Cluster, states: &[String]) -> Result<Vec<Listed>> {
    let metadata = cluster.bootstrap().metadata(Some(&[]))?;
    let request = ListTransactionsRequest::default().with_state_filters(
        states
            .iter()
            .map(|s| StrBytes::from_string(s.clone()))
            .collect(),
    );
    let mut out = Vec::new();
    for b in &metadata.brokers {
        let mut conn = cluster.connection_to(&metadata, b.node_id.0)?;
        let version = conn.version::<ListTransactionsRequest>()?.min(0);
        let response = conn.call_at(&request, version, conn.timeout())?;
        if response.error_code != 0 {
            return Err(state_error(
                response.error_code,
                conn.addr(),
                "list the transactions of",
            ));
        }
        if let Some(unknown) = response.unknown_state_filters.first() {
            return Err(Error::Usage(format!(
                "no transaction state '{unknown}': the states are Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead and PrepareEpochFence"
            )));
        }
        out.extend(response.transaction_states.into_iter().map(|t| Listed {
            transactional_id: t.transactional_id.0.to_string(),
            coordinator: b.node_id.0,
            producer_id: t.producer_id.0,
            state: t.transaction_state.to_string(),
        }));
    }
    out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    Ok(out)
}

/// The state of `id` as its coordinator sees it; None when the coordinator
/// does not know the id.
pub fn describe(cluster: &mut Cluster, id: &str) -> Result<Option<Described>> {
    let metadata = cluster.bootstrap().metadata(Some(&[]))?;
    let (coordinator, mut conn) = coordinator_of(cluster, &metadata, id)?;
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let version = conn.version::<DescribeTransactionsRequest>()?.min(0);
    let response = conn.call_at(&request, version, conn.timeout())?;
    let t = response
        .transaction_states
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::broker(format!(
                "the transaction coordinator {} did not answer for transactional id '{id}'",
                conn.addr()
            ))
        })?;
    if t.error_code == codes::TRANSACTIONAL_ID_NOT_FOUND {
        return Ok(None);
    }
    if t.error_code != 0 {
        return Err(state_error(
            t.error_code,
            conn.addr(),
            &format!("describe transactional id '{id}' on"),
        ));
    }
    let mut partitions: Vec<(String, i32)> = t
        .topics
        .into_iter()
        .flat_map(|topic| {
            let name = topic.topic.0.to_string();
            topic.partitions.into_iter().map(move |p| (name.clone(), p))
        })
        .collect();
    partitions.sort();
    Ok(Some(Described {
        transactional_id: id.to_string(),
        coordinator,
        producer_id: t.producer_id.0,
        producer_epoch: t.producer_epoch,
        state: t.transaction_state.to_string(),
        timeout_ms: t.transaction_timeout_ms,
        start_time_ms: t.transaction_start_time_ms,
        partitions,
    }))
}

/// The broker id of `id`'s transaction coordinator and a connection to it.
fn coordinator_of(
    cluster: &mut Cluster,
    metadata: &MetadataResponse,
    id: &str,
) -> Result<(i32, Connection)> {
    let conn = cluster.bootstrap();
    let version = conn.version::<FindCoordinatorRequest>()?.min(3);
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_string(id.to_string()))
        .with_key_type(KEY_TYPE_TRANSACTION);
    let response = conn.call_at(&request, version, conn.timeout())?;
    if response.error_code != 0 {
        return Err(state_error(
            response.error_code,
            conn.addr(),
            &format!("find the transaction coordinator of '{id}' through"),
        ));
    }
    let node = response.node_id.0;
    let conn = match cluster.connection_to(metadata, node) {
        Ok(conn) => conn,
        // Not in the metadata we hold (it just joined): its address as given.
        Err(_) => Connection::open(
            &join_host_port(&response.host, response.port),
            &cluster.config,
        )?,
    };
    Ok((node, conn))
}

fn state_error(code: i16, addr: &str, action: &str) -> Error {
    if let Some(e) = codes::denied(code, action, "Describe", || {
        "the transactional ids".to_string()
    }) {
        return e;
    }
    Error::broker(format!(
        "cannot {action} {addr}: broker error {code} ({})",
        codes::name(code)
    ))
}
