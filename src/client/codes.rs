//! Kafka's error codes, named through `kafka_protocol::ResponseError`
//! rather than as bare numbers, and sorted by what cures them.

use kafka_protocol::ResponseError;

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

/// The group's coordinator moved, is loading, or is gone: find it again.
pub fn coordinator_moved(code: i16) -> bool {
    is(
        code,
        &[
            ResponseError::CoordinatorLoadInProgress,
            ResponseError::CoordinatorNotAvailable,
            ResponseError::NotCoordinator,
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

pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const MEMBER_ID_REQUIRED: i16 = 79;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_their_cures() {
        assert!(coordinator_moved(16) && coordinator_moved(15) && coordinator_moved(14));
        assert!(!coordinator_moved(27));
        assert!(rebalance(REBALANCE_IN_PROGRESS) && rebalance(UNKNOWN_MEMBER_ID) && rebalance(22));
        assert!(member_forgotten(22) && !member_forgotten(27));
        assert_eq!(name(16), "NotCoordinator");
        assert_eq!(name(MEMBER_ID_REQUIRED), "MemberIdRequired");
        assert_eq!(name(i16::MAX), "unknown error");
    }
}
