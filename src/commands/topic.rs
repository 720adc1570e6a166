//! `kafkademo topic create|list|describe|delete`: what kafka-topics does,
//! with output shaped like its own so tutorials still read right (alter,
//! configs, truncate and reassign: commands/manage.rs).

use std::io::Write;

use crate::cli::{Format, TopicCommand, TopicOffsets};
use crate::client::admin::{self, NewTopic, Outcome};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::list_offsets::{self, At};
use crate::error::{Error, Result};
use crate::render::printable;

pub fn execute(brokers: &BrokerConfig, cmd: TopicCommand) -> Result<()> {
    let mut cluster = Cluster::connect(brokers)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        TopicCommand::Create(c) => {
            let outcome = admin::create_topic(
                &mut cluster,
                &NewTopic {
                    name: &c.name,
                    partitions: c.partitions,
                    replication_factor: c.replication_factor,
                    configs: &c.configs,
                },
            )?;
            match outcome {
                Outcome::Done => writeln!(
                    out,
                    "Created topic {} ({} partition{}, replication factor {}).",
                    c.name,
                    c.partitions,
                    if c.partitions == 1 { "" } else { "s" },
                    c.replication_factor
                ),
                Outcome::AlreadyThere if c.if_not_exists => {
                    writeln!(out, "Topic {} already exists.", c.name)
                }
                Outcome::AlreadyThere => {
                    return Err(Error::broker_with_hint(
                        format!("topic '{}' already exists", c.name),
                        "add --if-not-exists to accept an existing topic",
                    ))
                }
            }
        }
        TopicCommand::Delete(d) => match admin::delete_topic(&mut cluster, &d.name)? {
            Outcome::Done => writeln!(out, "Deleted topic {}.", d.name),
            Outcome::AlreadyThere if d.if_exists => {
                writeln!(out, "Topic {} does not exist.", d.name)
            }
            Outcome::AlreadyThere => {
                return Err(Error::UnknownTopic {
                    topic: d.name,
                    brokers: brokers.display(),
                })
            }
        },
        TopicCommand::List(l) => {
            for t in admin::list_topics(&mut cluster)? {
                if l.internal || !t.internal {
                    writeln!(out, "{}", t.name).map_err(Error::Output)?;
                }
            }
            Ok(())
        }
        TopicCommand::Alter(a) => return super::manage::alter(&mut cluster, a),
        TopicCommand::Configs(c) => return super::manage::configs(&mut cluster, c),
        TopicCommand::Truncate(t) => return super::manage::truncate(&mut cluster, t),
        TopicCommand::Reassign(r) => return super::manage::reassign(&mut cluster, r),
        TopicCommand::Offsets(o) => return offsets(&mut cluster, o),
        TopicCommand::Describe(d) => {
            let topic = admin::describe_topic(&mut cluster, &d.name)?;
            let configs = admin::topic_overrides(&mut cluster, &d.name)?;
            write_description(&mut out, &topic, &configs)
        }
    }
    .map_err(Error::Output)
}

/// `topic offsets`: earliest, latest and (with --time) the offset at a
/// time of every partition, each asked of the partition's leader.
fn offsets(cluster: &mut Cluster, args: TopicOffsets) -> Result<()> {
    admin::validate_topic_name(&args.name)?;
    let earliest = list_offsets::offsets_at(cluster, &args.name, At::Earliest)?;
    let latest = list_offsets::offsets_at(cluster, &args.name, At::Latest)?;
    let at_time = match args.time {
        Some(t) => Some(list_offsets::offsets_at(cluster, &args.name, At::Time(t))?),
        None => None,
    };
    let mut out = std::io::stdout().lock();
    let rows = latest.iter().map(|(&p, &end)| {
        let start = earliest.get(&p).copied().unwrap_or(end);
        let at = at_time.as_ref().and_then(|a| a.get(&p).copied());
        (p, start, end, at)
    });
    match args.format {
        Format::Json => {
            let partitions: Vec<serde_json::Value> = rows
                .map(|(p, start, end, at)| {
                    let mut row = serde_json::json!({
                        "partition": p, "earliest": start, "latest": end,
                    });
                    if let Some(at) = at {
                        row["at_time"] = at.into();
                    }
                    row
                })
                .collect();
            let doc = serde_json::json!({ "topic": args.name, "partitions": partitions });
            writeln!(out, "{doc}")
        }
        Format::Text => {
            let mut table = vec![vec![
                "PARTITION".to_string(),
                "EARLIEST".into(),
                "LATEST".into(),
            ]];
            if args.time.is_some() {
                table[0].push("AT-TIME".into());
            }
            for (p, start, end, at) in rows {
                let mut row = vec![p.to_string(), start.to_string(), end.to_string()];
                row.extend(at.map(|a| a.to_string()));
                table.push(row);
            }
            write_table(&mut out, &table)
        }
    }
    .map_err(Error::Output)
}

/// Columns left-aligned, two spaces apart, as wide as their widest cell.
fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
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
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_description(
    out: &mut impl Write,
    topic: &admin::TopicInfo,
    configs: &[(String, String)],
) -> std::io::Result<()> {
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    // Names and values as the broker gave them, escaped: a value is text
    // from elsewhere, and one line per partition must stay one line.
    let configs: Vec<String> = configs
        .iter()
        .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
        .collect();
    writeln!(
        out,
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.name,
        topic.id,
        topic.partitions.len(),
        replication,
        configs.join(",")
    )?;
    for p in &topic.partitions {
        let leader = if p.leader < 0 {
            "none".to_string()
        } else {
            p.leader.to_string()
        };
        write!(
            out,
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            topic.name,
            p.partition,
            leader,
            join(&p.replicas),
            join(&p.isr)
        )?;
        if !p.offline.is_empty() {
            write!(out, "\tOffline: {}", join(&p.offline))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_shows_config_values_escaped() {
        let topic = admin::TopicInfo {
            name: "t".into(),
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            internal: false,
            partitions: vec![admin::PartitionInfo {
                partition: 0,
                leader: 1,
                replicas: vec![1],
                isr: vec![1],
                offline: Vec::new(),
            }],
        };
        let configs = [
            ("retention.ms".to_string(), "1000".to_string()),
            (
                "x\x1b".to_string(),
                "a\x1b]0;pwned\x07\x1b[2J\nb".to_string(),
            ),
        ];
        let mut out = Vec::new();
        write_description(&mut out, &topic, &configs).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Topic: t\tTopicId: AAAAAAAAAAAAAAAAAAAAAA\tPartitionCount: 1\tReplicationFactor: 1\t\
             Configs: retention.ms=1000,x\\x1b=a\\x1b]0;pwned\\x07\\x1b[2J\\nb\n\
             \tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n"
        );
    }
}
