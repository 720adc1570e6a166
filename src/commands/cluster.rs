//! `kafkademo cluster describe|elect-leaders`: the cluster as a whole
//! (docs/management.md).

use std::io::Write;

use crate::cli::{ClusterCommand, ElectLeaders, Format};
use crate::client::admin::describe_topic;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::manage::{self, ClusterInfo, Elected};
use crate::error::{Error, Result};
use crate::render::printable;

pub fn execute(brokers: &BrokerConfig, cmd: ClusterCommand) -> Result<()> {
    let mut cluster = Cluster::connect(brokers)?;
    match cmd {
        ClusterCommand::Describe { format } => describe(&mut cluster, format),
        ClusterCommand::ElectLeaders(e) => elect(&mut cluster, e),
    }
}

fn describe(cluster: &mut Cluster, format: Format) -> Result<()> {
    let info = manage::describe_cluster(cluster)?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let json = serde_json::to_string(&info)
            .map_err(|e| Error::broker(format!("cannot write the cluster as JSON: {e}")))?;
        return writeln!(out, "{json}").map_err(Error::Output);
    }
    write_text(&mut out, &info).map_err(Error::Output)
}

/// The cluster as a table. The cluster id, broker hosts and racks come from
/// the brokers' configuration: text from elsewhere, so escaped (and the
/// column as wide as the escaped addresses).
fn write_text(out: &mut impl Write, info: &ClusterInfo) -> std::io::Result<()> {
    writeln!(
        out,
        "Cluster id: {}",
        printable(info.cluster_id.as_deref().unwrap_or("(none)"))
    )?;
    let controller = info.controller.map_or("none".to_string(), |id| {
        match info.brokers.iter().find(|b| b.id == id) {
            Some(b) => format!("broker {id} ({})", printable(&b.address)),
            None => format!("broker {id}"),
        }
    });
    writeln!(out, "Controller: {controller}")?;
    let addresses: Vec<_> = info.brokers.iter().map(|b| printable(&b.address)).collect();
    let width = addresses
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    writeln!(out, "{:<4}  {:width$}  RACK", "ID", "ADDRESS")?;
    for (b, address) in info.brokers.iter().zip(&addresses) {
        writeln!(
            out,
            "{:<4}  {:width$}  {}{}",
            b.id,
            address,
            printable(b.rack.as_deref().unwrap_or("-")),
            if b.fenced { "  (fenced)" } else { "" }
        )?;
    }
    Ok(())
}

fn elect(cluster: &mut Cluster, e: ElectLeaders) -> Result<()> {
    let only = match &e.topic {
        Some(t) => {
            let info = describe_topic(cluster, t)?;
            let all: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
            let parts = match e.partition {
                Some(p) if !all.contains(&p) => {
                    return Err(Error::Usage(format!(
                        "topic '{t}' has no partition {p}: it has {}",
                        all.len()
                    )))
                }
                Some(p) => vec![p],
                None => all,
            };
            Some((t.as_str(), parts))
        }
        None => None,
    };
    let results = manage::elect_preferred(cluster, only)?;
    // The preferred replica of each partition, to name it.
    let topics: Vec<String> = {
        let mut t: Vec<String> = results.iter().map(|r| r.0.clone()).collect();
        t.dedup();
        t
    };
    let mut preferred = std::collections::HashMap::new();
    for t in &topics {
        if let Ok(info) = describe_topic(cluster, t) {
            for p in info.partitions {
                if let Some(&first) = p.replicas.first() {
                    preferred.insert((t.clone(), p.partition), first);
                }
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let mut failed = Vec::new();
    let mut elected = 0;
    for (topic, p, outcome) in &results {
        let who = preferred
            .get(&(topic.clone(), *p))
            .map(|b| format!("broker {b}"))
            .unwrap_or_else(|| "the preferred replica".into());
        let line = match outcome {
            Elected::Done => {
                elected += 1;
                format!("{topic} partition {p}: elected {who}, the preferred leader")
            }
            Elected::AlreadyPreferred => {
                format!("{topic} partition {p}: already led by {who}, the preferred leader")
            }
            Elected::Failed(why) => {
                failed.push(format!("{topic} partition {p}: {why}"));
                not_elected(topic, *p, why)
            }
        };
        writeln!(out, "{line}").map_err(Error::Output)?;
    }
    if results.is_empty() {
        writeln!(out, "Every partition is led by its preferred replica.").map_err(Error::Output)?;
    }
    log::info!("{elected} preferred leaders elected");
    match failed.as_slice() {
        [] => Ok(()),
        [one] => Err(Error::broker_with_hint(
            format!("no preferred leader elected for {one}"),
            "the preferred replica must be alive and in sync: `kafkademo topic describe` shows the ISR",
        )),
        [first, ..] => Err(Error::broker_with_hint(
            format!(
                "{} partitions kept their leader; first: {first}",
                failed.len()
            ),
            "the preferred replica must be alive and in sync: `kafkademo topic describe` shows the ISR",
        )),
    }
}

/// The line for a partition whose election failed: `why` is the broker's
/// message, escaped.
fn not_elected(topic: &str, partition: i32, why: &str) -> String {
    format!(
        "{topic} partition {partition}: not elected: {}",
        printable(why)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::manage::BrokerInfo;

    #[test]
    fn hosts_racks_and_the_cluster_id_show_escaped() {
        let info = ClusterInfo {
            cluster_id: Some("c\x1b[2J".into()),
            controller: Some(1),
            brokers: vec![
                BrokerInfo {
                    id: 1,
                    address: "h\x1b]0;pwned\x07:9092".into(),
                    rack: Some("r\x1b[2J".into()),
                    fenced: false,
                },
                BrokerInfo {
                    id: 2,
                    address: "b:9092".into(),
                    rack: None,
                    fenced: true,
                },
            ],
            answered_by: "b:9092".into(),
        };
        let mut out = Vec::new();
        write_text(&mut out, &info).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Cluster id: c\\x1b[2J\n\
             Controller: broker 1 (h\\x1b]0;pwned\\x07:9092)\n\
             ID    ADDRESS                 RACK\n\
             1     h\\x1b]0;pwned\\x07:9092  r\\x1b[2J\n\
             2     b:9092                  -  (fenced)\n"
        );
    }

    #[test]
    fn a_failed_election_shows_the_brokers_words_escaped() {
        assert_eq!(
            not_elected("t", 3, "no\x1b]0;pwned\x07\nway"),
            "t partition 3: not elected: no\\x1b]0;pwned\\x07\\nway"
        );
    }
}
