//! `kafkademo topic create|list|describe|delete`: what kafka-topics does,
//! with output shaped like its own so tutorials still read right (alter,
//! configs, truncate and reassign: commands/manage.rs).

use std::io::Write;

use crate::cli::TopicCommand;
use crate::client::admin::{self, NewTopic, Outcome};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::error::{Error, Result};

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
        TopicCommand::Describe(d) => {
            let topic = admin::describe_topic(&mut cluster, &d.name)?;
            let configs = admin::topic_overrides(&mut cluster, &d.name)?;
            write_description(&mut out, &topic, &configs)
        }
    }
    .map_err(Error::Output)
}

fn write_description(
    out: &mut impl Write,
    topic: &admin::TopicInfo,
    configs: &[(String, String)],
) -> std::io::Result<()> {
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let configs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
