//! `kafkademo group list|describe|reset-offsets`: what kafka-consumer-groups
//! shows and does, for groups of kafkademo and Java consumers alike.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use kafka::client::FetchOffset;

use crate::cli::{GroupCommand, GroupReset};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::coordinator::{list_groups, Coordinator, Generation, GroupDescription};
use crate::client::produce::kafka_error;
use crate::error::{Error, Result};

pub fn execute(brokers: &BrokerConfig, cmd: GroupCommand) -> Result<()> {
    let mut cluster = Cluster::connect(brokers)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        GroupCommand::List => {
            for (name, state) in list_groups(&mut cluster)? {
                writeln!(out, "{name}\t{state}").map_err(Error::Output)?;
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
    let topics: BTreeSet<&str> = owner
        .keys()
        .chain(committed.keys())
        .map(|(t, _)| t.as_str())
        .collect();
    let ends = offsets(
        cluster,
        &topics.into_iter().collect::<Vec<_>>(),
        FetchOffset::Latest,
    )?;
    // Every partition of those topics: one without a commit shows "-".
    let shown: BTreeSet<(String, i32)> = owner
        .keys()
        .chain(committed.keys())
        .chain(ends.keys())
        .cloned()
        .collect();

    writeln!(
        out,
        "Group {group}: state {}, {} member{}{}, coordinator {}",
        description.state,
        description.members.len(),
        if description.members.len() == 1 {
            ""
        } else {
            "s"
        },
        if description.protocol.is_empty() {
            String::new()
        } else {
            format!(", assignor {}", description.protocol)
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
    let earliest = offsets(cluster, &[&r.topic], FetchOffset::Earliest)?;
    let latest = offsets(cluster, &[&r.topic], FetchOffset::Latest)?;
    let mut plan = Vec::new();
    let mut rows = vec![header(&[
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "NEW-OFFSET",
    ])];
    for p in &topic.partitions {
        let key = (r.topic.clone(), p.partition);
        let (lo, hi) = (
            earliest.get(&key).copied().unwrap_or(0),
            latest.get(&key).copied().unwrap_or(0),
        );
        let new = if r.to_earliest {
            lo
        } else if r.to_latest {
            hi
        } else {
            r.to_offset.unwrap_or(lo).clamp(lo, hi)
        };
        plan.push((p.partition, new));
        rows.push(vec![
            r.topic.clone(),
            p.partition.to_string(),
            committed.get(&key).map_or("-".into(), |c| c.to_string()),
            new.to_string(),
        ]);
    }
    write_table(out, &rows).map_err(Error::Output)?;
    if r.execute {
        coordinator.commit(&r.topic, &plan, &Generation::standalone())?;
        writeln!(out, "Offsets of group {} reset.", r.group).map_err(Error::Output)
    } else {
        writeln!(out, "Dry run: nothing changed. Add --execute to apply.").map_err(Error::Output)
    }
}

/// Earliest or latest offsets of the topics' partitions.
fn offsets(
    cluster: &Cluster,
    topics: &[&str],
    at: FetchOffset,
) -> Result<BTreeMap<(String, i32), i64>> {
    if topics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let brokers = cluster.config.display();
    let mut client = cluster.kafka_client()?;
    client
        .load_metadata(topics)
        .map_err(|e| kafka_error(e, &brokers, topics[0]))?;
    let found = client
        .fetch_offsets(topics, at)
        .map_err(|e| kafka_error(e, &brokers, topics[0]))?;
    Ok(found
        .into_iter()
        .flat_map(|(t, ps)| {
            ps.into_iter()
                .map(move |p| ((t.clone(), p.partition), p.offset))
        })
        .collect())
}

fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Left-aligned columns, two spaces apart, as kafka-consumer-groups prints them.
fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
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
    for row in rows {
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
