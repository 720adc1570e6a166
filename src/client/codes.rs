//! Kafka's error codes, named through `kafka_protocol::ResponseError`
//! rather than as bare numbers, and sorted by what cures them.

use kafka_protocol::ResponseError;

use crate::error::Error;

/// The broker's name for an error code, e.g. `NotCoordinator`.
pub fn name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        Some(ResponseError::Unknown(_)) | None => "unknown error".into(),
        Some(e) => format!("{e:?}"),
    }
}

fn is(code: i16, errors: &[ResponseError]) -> bool {
    ResponseError::try_from_code(code).is_some_and(|e| errors.contains(&e))
}

/// The group's coordinator moved, is loading, is gone, or could not
/// finish in time (a commit it could not replicate while a broker is down):
/// find it again and retry, as the Java consumer does.
pub fn coordinator_moved(code: i16) -> bool {
    is(
        code,
        &[
            ResponseError::CoordinatorLoadInProgress,
            ResponseError::CoordinatorNotAvailable,
            ResponseError::NotCoordinator,
            ResponseError::RequestTimedOut,
        ],
    )
}

/// The group moved on without this member's knowledge: rejoin.
pub fn rebalance(code: i16) -> bool {
    is(
        code,
        &[
            ResponseError::RebalanceInProgress,
            ResponseError::UnknownMemberId,
            ResponseError::IllegalGeneration,
            ResponseError::FencedInstanceId,
        ],
    )
}

/// The member's id is no longer known: join afresh, without it.
pub fn member_forgotten(code: i16) -> bool {
    is(
        code,
        &[
            ResponseError::UnknownMemberId,
            ResponseError::IllegalGeneration,
        ],
    )
}

/// Answers about a partition that a leader change or a broker restart
/// explains: retry on fresh metadata.
pub fn leader_trouble(code: i16) -> bool {
    is(
        code,
        &[
            ResponseError::NotLeaderOrFollower,
            ResponseError::LeaderNotAvailable,
            ResponseError::NotEnoughReplicas,
            ResponseError::NotEnoughReplicasAfterAppend,
            ResponseError::RequestTimedOut,
            ResponseError::NetworkException,
            ResponseError::UnknownTopicOrPartition,
            // A leader elected a moment ago, its high watermark still
            // behind its predecessor's (ListOffsets v2+).
            ResponseError::OffsetNotAvailable,
        ],
    )
}

// The codes the client treats by name; the test below holds each to
// kafka_protocol's ResponseError, so a typo cannot hide here.
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
pub const UNKNOWN_SERVER_ERROR: i16 = -1;
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const LEADER_NOT_AVAILABLE: i16 = 5;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const REQUEST_TIMED_OUT: i16 = 7;
pub const MESSAGE_TOO_LARGE: i16 = 10;
pub const NETWORK_EXCEPTION: i16 = 13;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const INVALID_TOPIC: i16 = 17;
pub const NOT_ENOUGH_REPLICAS: i16 = 19;
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INVALID_GROUP_ID: i16 = 24;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
pub const UNSUPPORTED_VERSION: i16 = 35;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const INVALID_PARTITIONS: i16 = 37;
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
pub const INVALID_CONFIG: i16 = 40;
pub const NOT_CONTROLLER: i16 = 41;
pub const POLICY_VIOLATION: i16 = 44;
pub const TOPIC_DELETION_DISABLED: i16 = 73;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const ELECTION_NOT_NEEDED: i16 = 84;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;

pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

/// An ACL refusal as "not authorized" (exit 77), or None for any other
/// code. `operation` is what we tried ("write", "join"), `acl` the ACL
/// operation it needs, `resource` e.g. "topic t" or "group g".
pub fn denied(
    code: i16,
    operation: &str,
    acl: &'static str,
    resource: impl FnOnce() -> String,
) -> Option<Error> {
    let (operation, acl, resource) = match code {
        TOPIC_AUTHORIZATION_FAILED | GROUP_AUTHORIZATION_FAILED => {
            (operation.to_string(), acl, resource())
        }
        CLUSTER_AUTHORIZATION_FAILED => (
            format!("{operation} on"),
            "ClusterAction",
            "the cluster".to_string(),
        ),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED => (
            operation.to_string(),
            "Write",
            "a transactional id".to_string(),
        ),
        _ => return None,
    };
    Some(Error::NotAuthorized {
        user: None,
        operation,
        acl,
        resource,
    })
}

/// A broker error code about a partition as one of our errors, naming
/// where it happened.
pub fn partition_error(code: i16, topic: &str, partition: i32, brokers: &str) -> Error {
    let at = if partition >= 0 {
        format!("topic '{topic}' partition {partition}")
    } else {
        format!("topic '{topic}'")
    };
    if let Some(e) = denied(code, "use", "Describe", || format!("topic {topic}")) {
        return e;
    }
    match code {
        UNKNOWN_TOPIC_OR_PARTITION => Error::UnknownTopic {
            topic: topic.to_string(),
            brokers: brokers.to_string(),
        },
        MESSAGE_TOO_LARGE => Error::Data {
            message: format!("a record is over the size limit of {at}"),
            hint: Some("raise the topic's max.message.bytes".into()),
        },
        NOT_LEADER_OR_FOLLOWER | LEADER_NOT_AVAILABLE => Error::broker_with_hint(
            format!("{at} has no leader at {brokers} right now"),
            "a broker may be down or an election under way; try again",
        ),
        NOT_ENOUGH_REPLICAS | NOT_ENOUGH_REPLICAS_AFTER_APPEND => Error::broker_with_hint(
            format!("{at}: not enough in-sync replicas for acks=all"),
            "start the missing brokers or lower min.insync.replicas",
        ),
        REQUEST_TIMED_OUT => Error::broker(format!(
            "{at}: the broker at {brokers} timed out the request"
        )),
        code => Error::broker(format!(
            "{at} at {brokers}: broker error {code} ({})",
            name(code)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_their_cures() {
        assert!(coordinator_moved(16) && coordinator_moved(15) && coordinator_moved(14));
        assert!(
            coordinator_moved(REQUEST_TIMED_OUT),
            "a commit that timed out is retried"
        );
        assert!(!coordinator_moved(27));
        assert!(leader_trouble(NOT_LEADER_OR_FOLLOWER) && !leader_trouble(MESSAGE_TOO_LARGE));
        assert!(rebalance(REBALANCE_IN_PROGRESS) && rebalance(UNKNOWN_MEMBER_ID) && rebalance(22));
        assert!(member_forgotten(22) && !member_forgotten(27));
        assert_eq!(name(16), "NotCoordinator");
        assert_eq!(name(MEMBER_ID_REQUIRED), "MemberIdRequired");
        assert_eq!(name(NON_EMPTY_GROUP), "NonEmptyGroup");
        assert_eq!(name(GROUP_ID_NOT_FOUND), "GroupIdNotFound");
        assert_eq!(name(i16::MAX), "unknown error");
    }

    #[test]
    fn every_named_code_is_kafkas() {
        for (code, error) in [
            (
                DUPLICATE_SEQUENCE_NUMBER,
                ResponseError::DuplicateSequenceNumber,
            ),
            (
                TRANSACTIONAL_ID_NOT_FOUND,
                ResponseError::TransactionalIdNotFound,
            ),
            (UNKNOWN_SERVER_ERROR, ResponseError::UnknownServerError),
            (
                NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                ResponseError::NotEnoughReplicasAfterAppend,
            ),
            (NOT_ENOUGH_REPLICAS, ResponseError::NotEnoughReplicas),
            (NETWORK_EXCEPTION, ResponseError::NetworkException),
            (MESSAGE_TOO_LARGE, ResponseError::MessageTooLarge),
            (NOT_LEADER_OR_FOLLOWER, ResponseError::NotLeaderOrFollower),
            (OFFSET_OUT_OF_RANGE, ResponseError::OffsetOutOfRange),
            (
                UNKNOWN_TOPIC_OR_PARTITION,
                ResponseError::UnknownTopicOrPartition,
            ),
            (LEADER_NOT_AVAILABLE, ResponseError::LeaderNotAvailable),
            (REQUEST_TIMED_OUT, ResponseError::RequestTimedOut),
            (
                COORDINATOR_NOT_AVAILABLE,
                ResponseError::CoordinatorNotAvailable,
            ),
            (INVALID_TOPIC, ResponseError::InvalidTopicException),
            (ILLEGAL_GENERATION, ResponseError::IllegalGeneration),
            (INVALID_GROUP_ID, ResponseError::InvalidGroupId),
            (UNKNOWN_MEMBER_ID, ResponseError::UnknownMemberId),
            (
                INVALID_SESSION_TIMEOUT,
                ResponseError::InvalidSessionTimeout,
            ),
            (REBALANCE_IN_PROGRESS, ResponseError::RebalanceInProgress),
            (
                TOPIC_AUTHORIZATION_FAILED,
                ResponseError::TopicAuthorizationFailed,
            ),
            (
                GROUP_AUTHORIZATION_FAILED,
                ResponseError::GroupAuthorizationFailed,
            ),
            (
                CLUSTER_AUTHORIZATION_FAILED,
                ResponseError::ClusterAuthorizationFailed,
            ),
            (UNSUPPORTED_VERSION, ResponseError::UnsupportedVersion),
            (TOPIC_ALREADY_EXISTS, ResponseError::TopicAlreadyExists),
            (INVALID_PARTITIONS, ResponseError::InvalidPartitions),
            (
                INVALID_REPLICATION_FACTOR,
                ResponseError::InvalidReplicationFactor,
            ),
            (INVALID_CONFIG, ResponseError::InvalidConfig),
            (NOT_CONTROLLER, ResponseError::NotController),
            (POLICY_VIOLATION, ResponseError::PolicyViolation),
            (
                TOPIC_DELETION_DISABLED,
                ResponseError::TopicDeletionDisabled,
            ),
            (MEMBER_ID_REQUIRED, ResponseError::MemberIdRequired),
        ] {
            assert_eq!(ResponseError::try_from_code(code), Some(error), "{code}");
        }
    }
}
