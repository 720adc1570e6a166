//! Whether a broker still takes the request versions the `kafka` crate's data path sends.
//!
//! kafkademo produces, fetches and lists offsets with the `kafka` crate,
//! which sends Produce v0, Fetch v0 and ListOffsets v0. Kafka 4.0 (KIP-896)
//! removed those versions, and a 4.x broker does not answer them with an
//! error: it closes the connection, which the crate reports as an I/O error
//! and kafkademo would retry as an outage. So before a crate client is built
//! (`Cluster::kafka_client`), the bootstrap broker's ApiVersions table is
//! checked here and a refusal is named.
//!
//! 4.x still advertises Produce v0 (a compatibility quirk) yet refuses it.
//! Its Fetch minimum (v4) and ListOffsets minimum (v1) give it away, and
//! Fetch and ListOffsets are checked first, so such a broker is refused on
//! them before Produce is looked at.

use std::collections::HashMap;

use crate::error::{Error, Result};

pub const PRODUCE: i16 = 0;
pub const FETCH: i16 = 1;
pub const LIST_OFFSETS: i16 = 2;

/// What the `kafka` crate sends: (API key, name, version), in the order a
/// refusal is reported.
const CRATE_SENDS: [(i16, &str, i16); 3] = [
    (FETCH, "Fetch", 0),
    (LIST_OFFSETS, "ListOffsets", 0),
    (PRODUCE, "Produce", 0),
];

/// A broker's ApiVersions table: API key -> (min, max) version it accepts.
pub type ApiVersions = HashMap<i16, (i16, i16)>;

/// The version to speak: the highest in both the broker's range (`theirs`,
/// None when it does not list the API) and ours, if the two ranges meet.
/// The one rule every request's version goes by (`Connection::version`,
/// the modern path's `pick_version`).
pub fn highest_common(theirs: Option<(i16, i16)>, ours: (i16, i16)) -> Option<i16> {
    let (min, max) = theirs?;
    let v = max.min(ours.1);
    (v >= min.max(ours.0)).then_some(v)
}

/// A Kafka 4.0 or later broker, told apart by the minimums KIP-896 raised
/// (Produce's advertised minimum stayed at v0, so it cannot tell).
pub fn is_kafka4(versions: &ApiVersions) -> bool {
    let min = |key| versions.get(&key).map_or(0, |&(min, _)| min);
    min(FETCH) >= 4 || min(LIST_OFFSETS) >= 1
}

/// Ok when the broker at `addr` takes every request version the `kafka`
/// crate sends; else the first one it refuses, as `Error::VersionRefused`.
pub fn check_data_path(addr: &str, versions: &ApiVersions) -> Result<()> {
    for (key, api, sent) in CRATE_SENDS {
        let accepts = versions.get(&key).copied();
        if !matches!(accepts, Some((min, max)) if min <= sent && sent <= max) {
            return Err(Error::VersionRefused {
                addr: addr.to_string(),
                api: api.to_string(),
                sent,
                accepts,
                kafka4: is_kafka4(versions),
                data_path: true,
            });
        }
    }
    Ok(())
}

/// What the modern data path sends at least: record batches need Produce
/// v3, Fetch v4 and ListOffsets v1 (Kafka 0.11 and later).
const MODERN_NEEDS: [(i16, &str, i16); 3] = [
    (PRODUCE, "Produce", 3),
    (FETCH, "Fetch", 4),
    (LIST_OFFSETS, "ListOffsets", 1),
];

/// Whether a broker with this ApiVersions table can serve the modern data
/// path; the error names the first API it cannot.
pub fn check_modern_path(addr: &str, versions: &ApiVersions) -> Result<()> {
    for (key, api, needed) in MODERN_NEEDS {
        let accepts = versions.get(&key).copied();
        if !matches!(accepts, Some((_, max)) if max >= needed) {
            return Err(Error::PathUnavailable {
                addr: addr.to_string(),
                path: "modern",
                why: format!(
                    "it does not accept {api} v{needed} or later ({})",
                    match accepts {
                        Some((min, max)) => format!("only v{min} to v{max}"),
                        None => "not listed at all".into(),
                    }
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produce, Fetch, ListOffsets and a few others as Kafka 3.9 advertises them.
    fn kafka_3_9() -> ApiVersions {
        HashMap::from([
            (PRODUCE, (0, 11)),
            (FETCH, (0, 16)),
            (LIST_OFFSETS, (0, 9)),
            (3, (0, 12)),
            (18, (0, 4)),
        ])
    }

    /// As Kafka 4.4 advertises them: Produce still from v0 (refused anyway).
    fn kafka_4_4() -> ApiVersions {
        HashMap::from([
            (PRODUCE, (0, 13)),
            (FETCH, (4, 18)),
            (LIST_OFFSETS, (1, 11)),
            (3, (0, 13)),
            (18, (0, 4)),
        ])
    }

    #[test]
    fn kafka_3_9_takes_the_crates_versions() {
        assert!(!is_kafka4(&kafka_3_9()));
        assert!(check_data_path("127.0.0.1:9092", &kafka_3_9()).is_ok());
    }

    #[test]
    fn kafka_4_4_is_refused_on_fetch_with_its_range() {
        let versions = kafka_4_4();
        assert!(is_kafka4(&versions));
        let e = check_data_path("127.0.0.1:9092", &versions).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Kafka at 127.0.0.1:9092 no longer accepts Fetch v0, which kafkademo's data path \
             sends (it accepts Fetch v4 to v18: Kafka 4.0 or later)"
        );
        assert_eq!(e.exit_code().code(), 76);
        let hint = e.hint().unwrap();
        assert!(hint.contains("only the request versions Kafka 0.11 to 3.9 accept"));
        assert!(!e.to_string().contains("is Kafka running"));
    }

    #[test]
    fn a_4x_minimum_on_list_offsets_alone_is_enough() {
        let mut versions = kafka_4_4();
        versions.insert(FETCH, (0, 18));
        assert!(is_kafka4(&versions));
        let e = check_data_path("b:1", &versions).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Kafka at b:1 no longer accepts ListOffsets v0, which kafkademo's data path \
             sends (it accepts ListOffsets v1 to v11: Kafka 4.0 or later)"
        );
    }

    #[test]
    fn a_missing_api_is_refused_without_a_range() {
        let mut versions = kafka_3_9();
        versions.remove(&PRODUCE);
        let e = check_data_path("b:1", &versions).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Kafka at b:1 no longer accepts Produce v0, which kafkademo's data path \
             sends (it does not list Produce at all)"
        );
    }
}
