//! `kafkademo group list|describe|reset-offsets`: what kafka-consumer-groups
//! shows and does, for groups of kafkademo and Java consumers alike. Names
//! and ids come from whoever joined a group: they are shown escaped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use crate::cli::{GroupCommand, GroupReset};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::coordinator::{list_groups, Coordinator, Generation, GroupDescription};
use crate::client::list_offsets::{offsets_at, At};
use crate::error::{Error, Result};
use crate::render::printable;

pub fn execute(brokers: &BrokerConfig, cmd: GroupCommand) -> Result<()> {
    let mut cluster = Cluster::connect(brokers)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        GroupCommand::List => {
            for (name, state) in list_groups(&mut cluster)? {
                writeln!(out, "{}\t{}", printable(&name), printable(&state))
                    .map_err(Error::Output)?;
            }
            Ok(())
        }
        GroupCommand::Describe(d) => describe(&mut cluster, &d.group, &mut out),
        GroupCommand::ResetOffsets(r) => reset(&mut cluster, &r, &mut out),
    }
}

fn describe(cluster: &mut Cluster, group: &str, out: &mut impl Write) -> Result<()> {
    let mut coordinator = Coordinator::find(cluster, group)?;
    let description = coordinator.describe()?;
    if description.state == "Dead" {
        return Err(Error::broker_with_hint(
            format!(
                "consumer group '{group}' does not exist (brokers {})",
                cluster.config.display()
            ),
            "list the groups with `kafkademo group list`",
        ));
    }
    let committed = coordinator.fetch_all_offsets()?;
    // Partitions to show: those assigned to a member, and those with a commit.
    let mut owner: HashMap<(String, i32), usize> = HashMap::new();
    for (i, m) in description.members.iter().enumerate() {
        for (topic, partitions) in &m.assignment {
            for &p in partitions {
                owner.insert((topic.clone(), p), i);
            }
        }
    }
    let topics: BTreeSet<String> = owner
        .keys()
        .chain(committed.keys())
        .map(|(t, _)| t.clone())
        .collect();
    let mut ends = BTreeMap::new();
    for topic in topics {
        for (p, end) in offsets_at(cluster, &topic, At::Latest)? {
            ends.insert((topic.clone(), p), end);
        }
    }
    // Every partition of those topics: one without a commit shows "-".
    let shown: BTreeSet<(String, i32)> = owner
        .keys()
        .chain(committed.keys())
        .chain(ends.keys())
        .cloned()
        .collect();

    writeln!(
        out,
        "Group {}: state {}, {} member{}{}, coordinator {}",
        printable(group),
        printable(&description.state),
        description.members.len(),
        if description.members.len() == 1 {
            ""
        } else {
            "s"
        },
        if description.protocol.is_empty() {
            String::new()
        } else {
            format!(", assignor {}", printable(&description.protocol))
        },
        coordinator.addr()
    )
    .map_err(Error::Output)?;
    let mut rows = vec![header(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ])];
    for key in &shown {
        let current = committed.get(key).copied();
        let end = ends.get(key).copied();
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".into(),
        };
        let (id, host, client) = member_columns(&description, owner.get(key).copied());
        rows.push(vec![
            key.0.clone(),
            key.1.to_string(),
            current.map_or("-".into(), |c| c.to_string()),
            end.map_or("-".into(), |e| e.to_string()),
            lag,
            id,
            host,
            client,
        ]);
    }
    for (i, m) in description.members.iter().enumerate() {
        if m.assignment.iter().all(|(_, ps)| ps.is_empty()) {
            let (id, host, client) = member_columns(&description, Some(i));
            rows.push(vec![
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                id,
                host,
                client,
            ]);
        }
    }
    write_table(out, &rows).map_err(Error::Output)
}

fn member_columns(d: &GroupDescription, i: Option<usize>) -> (String, String, String) {
    match i.and_then(|i| d.members.get(i)) {
        Some(m) => (m.member_id.clone(), m.host.clone(), m.client_id.clone()),
        None => ("-".into(), "-".into(), "-".into()),
    }
}

fn reset(cluster: &mut Cluster, r: &GroupReset, out: &mut impl Write) -> Result<()> {
    crate::client::admin::validate_topic_name(&r.topic)?;
    let topic = crate::client::admin::describe_topic(cluster, &r.topic)?;
    let mut coordinator = Coordinator::find(cluster, &r.group)?;
    let description = coordinator.describe()?;
    if !description.members.is_empty() {
        return Err(Error::broker_with_hint(
            format!(
                "cannot reset the offsets of group '{}': it has {} active member{} (state {})",
                r.group,
                description.members.len(),
                if description.members.len() == 1 {
                    ""
                } else {
                    "s"
                },
                description.state
            ),
            "stop the group's consumers first; offsets can only move while nobody reads",
        ));
    }
    let committed = coordinator.fetch_all_offsets()?;
    // Every offset is known before anything is printed or committed: a
    // partition without an answer (a leader election) fails the whole reset.
    let earliest = offsets_at(cluster, &r.topic, At::Earliest)?;
    let latest = offsets_at(cluster, &r.topic, At::Latest)?;
    let at_time = match r.to_datetime {
        Some(t) => Some(offsets_at(cluster, &r.topic, At::Time(t))?),
        None => None,
    };
    let target = match (r.to_earliest, r.to_latest, r.to_offset, &at_time) {
        (true, ..) => Target::Earliest,
        (_, true, ..) => Target::Latest,
        (_, _, Some(n), _) => Target::Offset(n),
        (_, _, _, Some(times)) => Target::Time(times),
        _ => {
            return Err(Error::Usage(
                "say where to: --to-earliest, --to-latest, --to-offset or --to-datetime".into(),
            ))
        }
    };
    let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.partition).collect();
    let found = Found {
        topic: &r.topic,
        brokers: cluster.config.display(),
        earliest: &earliest,
        latest: &latest,
    };
    let (plan, notes) = plan_reset(&partitions, &found, target)?;
    let mut rows = vec![header(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "NEW-OFFSET",
    ])];
    for &(p, new) in &plan {
        rows.push(vec![
            r.topic.clone(),
            p.to_string(),
            committed
                .get(&(r.topic.clone(), p))
                .map_or("-".into(), |c| c.to_string()),
            new.to_string(),
        ]);
    }
    write_table(out, &rows).map_err(Error::Output)?;
    for note in &notes {
        writeln!(out, "{note}").map_err(Error::Output)?;
    }
    if r.execute {
        coordinator.commit(&r.topic, &plan, &Generation::standalone())?;
        writeln!(out, "Offsets of group {} reset.", printable(&r.group)).map_err(Error::Output)
    } else {
        writeln!(out, "Dry run: nothing changed. Add --execute to apply.").map_err(Error::Output)
    }
}

/// Where `reset-offsets` moves each partition.
#[derive(Clone, Copy)]
enum Target<'a> {
    Earliest,
    Latest,
    Offset(i64),
    /// The by-time offsets of the partitions (`--to-datetime`).
    Time(&'a BTreeMap<i32, i64>),
}

/// The offsets a reset starts from, and whose they are, for its errors.
struct Found<'a> {
    topic: &'a str,
    brokers: String,
    earliest: &'a BTreeMap<i32, i64>,
    latest: &'a BTreeMap<i32, i64>,
}

/// (partition, new offset) of every partition, and notes on clamped ones.
type Plan = (Vec<(i32, i64)>, Vec<String>);

/// The new offset of every partition, and notes on clamped ones. A
/// partition missing from any of the offsets is an error (never offset 0),
/// so nothing is committed.
fn plan_reset(partitions: &[i32], found: &Found, target: Target) -> Result<Plan> {
    let get = |map: &BTreeMap<i32, i64>, p: i32, what: &str| {
        map.get(&p).copied().ok_or_else(|| {
            Error::broker_with_hint(
                format!(
                    "cannot find the {what} of topic '{}' partition {p} (brokers {}); nothing was reset",
                    found.topic, found.brokers
                ),
                "a leader election may be under way; try again in a moment",
            )
        })
    };
    let mut plan = Vec::new();
    let mut notes = Vec::new();
    for &p in partitions {
        let lo = get(found.earliest, p, "earliest offset")?;
        let hi = get(found.latest, p, "latest offset")?;
        let new = match target {
            Target::Earliest => lo,
            Target::Latest => hi,
            // a time index answer is within the log already; keep it so
            Target::Time(times) => get(times, p, "offset at that time")?.clamp(lo.min(hi), hi),
            Target::Offset(wanted) => {
                let (new, note) = clamp_offset(wanted, lo, hi);
                if let Some(note) = note {
                    notes.push(format!("note: partition {p}: {note}"));
                }
                new
            }
        };
        plan.push((p, new));
    }
    Ok((plan, notes))
}

/// `--to-offset`: as kafka-consumer-groups does, an offset past the log end
/// becomes the log end and one before the log start the log start, with a
/// note saying so. `lo` > `hi` (a log start racing past the end it was read
/// with) never panics: the end wins.
fn clamp_offset(wanted: i64, lo: i64, hi: i64) -> (i64, Option<String>) {
    let lo = lo.min(hi);
    if wanted > hi {
        (
            hi,
            Some(format!(
                "offset {wanted} is past the latest offset {hi}; using {hi}"
            )),
        )
    } else if wanted < lo {
        (
            lo,
            Some(format!(
                "offset {wanted} is before the earliest offset {lo}; using {lo}"
            )),
        )
    } else {
        (wanted, None)
    }
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Left-aligned columns, two spaces apart, as kafka-consumer-groups prints
/// them; every cell escaped (`render::printable`), as cells hold names and
/// ids from Kafka.
pub fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let rows: Vec<Vec<Cow<str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c)).collect())
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_offset_is_clamped_with_a_note_and_never_panics() {
        assert_eq!(clamp_offset(5, 0, 10), (5, None));
        assert_eq!(clamp_offset(0, 0, 10), (0, None));
        assert_eq!(clamp_offset(10, 0, 10), (10, None));
        assert_eq!(
            clamp_offset(50, 0, 10),
            (
                10,
                Some("offset 50 is past the latest offset 10; using 10".into())
            )
        );
        assert_eq!(
            clamp_offset(2, 4, 10),
            (
                4,
                Some("offset 2 is before the earliest offset 4; using 4".into())
            )
        );
        // earliest above latest: `i64::clamp` panics on this
        assert_eq!(clamp_offset(5, 7, 6).0, 6);
    }

    fn found<'a>(earliest: &'a BTreeMap<i32, i64>, latest: &'a BTreeMap<i32, i64>) -> Found<'a> {
        Found {
            topic: "t",
            brokers: "b:9092".into(),
            earliest,
            latest,
        }
    }

    #[test]
    fn a_plan_moves_every_partition() {
        let (lo, hi) = ([(0, 2), (1, 0)].into(), [(0, 30), (1, 10)].into());
        let f = found(&lo, &hi);
        let plan = |t| plan_reset(&[0, 1], &f, t).unwrap();
        assert_eq!(plan(Target::Earliest), (vec![(0, 2), (1, 0)], vec![]));
        assert_eq!(plan(Target::Latest), (vec![(0, 30), (1, 10)], vec![]));
        let times = [(0, 12), (1, 10)].into();
        assert_eq!(plan(Target::Time(&times)), (vec![(0, 12), (1, 10)], vec![]));
        assert_eq!(
            plan(Target::Offset(20)),
            (
                vec![(0, 20), (1, 10)],
                vec!["note: partition 1: offset 20 is past the latest offset 10; using 10".into()]
            )
        );
    }

    #[test]
    fn a_partition_missing_from_the_offsets_fails_the_plan_instead_of_offset_0() {
        // partition 1 has no latest offset (its leader was being elected)
        let (lo, hi) = ([(0, 0), (1, 0)].into(), [(0, 30)].into());
        for target in [Target::Latest, Target::Earliest, Target::Offset(5)] {
            let e = plan_reset(&[0, 1], &found(&lo, &hi), target).unwrap_err();
            assert_eq!(
                e.to_string(),
                "cannot find the latest offset of topic 't' partition 1 (brokers b:9092); nothing was reset"
            );
            assert_eq!(e.exit_code(), crate::error::ExitCode::Failure);
        }
        let (lo, hi) = ([(0, 0)].into(), [(0, 30), (1, 10)].into());
        let e = plan_reset(&[0, 1], &found(&lo, &hi), Target::Latest).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot find the earliest offset of topic 't' partition 1"));
        let (lo, hi) = ([(0, 0), (1, 0)].into(), [(0, 30), (1, 10)].into());
        let times = [(0, 3)].into();
        let e = plan_reset(&[0, 1], &found(&lo, &hi), Target::Time(&times)).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("cannot find the offset at that time of topic 't' partition 1"));
    }
}
