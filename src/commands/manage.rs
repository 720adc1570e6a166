//! `kafkademo topic alter|configs|truncate|reassign`: changing a topic that
//! holds data (docs/management.md). The requests are client::manage's; this
//! module checks the plan, prints it and the outcome, and waits.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::{Before, Format, TopicAlter, TopicConfigs, TopicReassign, TopicTruncate};
use crate::client::admin::describe_topic;
use crate::client::cluster::Cluster;
use crate::client::deadline::interrupted;
use crate::client::list_offsets::{offsets_at, At};
use crate::client::manage::{self, source_name, ConfigEntry};
use crate::error::{Error, Result};
use crate::render::printable;

pub fn alter(cluster: &mut Cluster, a: TopicAlter) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if let Some(count) = a.partitions {
        let was = manage::add_partitions(cluster, &a.name, count)?;
        writeln!(
            out,
            "Topic {}: {was} → {count} partitions (records already written stay where they are; \
             new keys may map to other partitions).",
            a.name
        )
        .map_err(Error::Output)?;
    }
    if !a.configs.is_empty() || !a.delete_configs.is_empty() {
        manage::alter_configs(cluster, &a.name, &a.configs, &a.delete_configs)?;
        for (k, v) in &a.configs {
            writeln!(out, "Topic {}: set {k}={v}.", a.name).map_err(Error::Output)?;
        }
        for k in &a.delete_configs {
            writeln!(out, "Topic {}: deleted {k} (the default applies).", a.name)
                .map_err(Error::Output)?;
        }
    }
    Ok(())
}

pub fn configs(cluster: &mut Cluster, c: TopicConfigs) -> Result<()> {
    let entries = manage::topic_configs(cluster, &c.name)?;
    let mut out = std::io::stdout().lock();
    match c.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = entries.iter().map(config_json).collect();
            let doc = serde_json::json!({ "topic": c.name, "configs": list });
            writeln!(out, "{doc}")
        }
        Format::Text => write_configs(&mut out, &entries),
    }
    .map_err(Error::Output)
}

/// A value as the table shows it: escaped, as it is text from the broker
/// (a control character in it must not reach the terminal).
fn shown(value: &Option<String>, sensitive: bool) -> String {
    match (sensitive, value) {
        (true, _) => "(sensitive)".into(),
        (false, Some(v)) => printable(v).into_owned(),
        (false, None) => "null".into(),
    }
}

fn write_configs(out: &mut impl Write, entries: &[ConfigEntry]) -> std::io::Result<()> {
    let width = entries
        .iter()
        .map(|e| printable(&e.name).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let vwidth = entries
        .iter()
        .map(|e| shown(&e.value, e.sensitive).chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 30);
    writeln!(
        out,
        "{:width$}  {:vwidth$}  {:<26}  DEFAULT (WHERE FROM)",
        "NAME", "VALUE", "SOURCE"
    )?;
    for e in entries {
        let default = match (e.source, e.default()) {
            (5, _) => "-".into(),
            (_, Some(d)) => format!(
                "{}={} ({})",
                printable(&d.name),
                shown(&d.value, e.sensitive),
                source_name(d.source)
            ),
            (_, None) => "(not listed by the broker)".into(),
        };
        writeln!(
            out,
            "{:width$}  {:vwidth$}  {:<26}  {default}",
            printable(&e.name),
            shown(&e.value, e.sensitive),
            source_name(e.source)
        )?;
    }
    Ok(())
}

fn config_json(e: &ConfigEntry) -> serde_json::Value {
    let default = if e.source != 5 {
        e.default().map(|d| {
            serde_json::json!({
                "name": d.name, "value": d.value, "source": source_name(d.source)
            })
        })
    } else {
        None
    };
    serde_json::json!({
        "name": e.name,
        "value": e.value,
        "source": source_name(e.source),
        "default": default,
        "read_only": e.read_only,
        "sensitive": e.sensitive,
        "synonyms": e.synonyms.iter().map(|y| serde_json::json!({
            "name": y.name, "value": y.value, "source": source_name(y.source)
        })).collect::<Vec<_>>(),
    })
}

/// Checks `--partition` against the topic: Some(p) or every partition.
fn partitions_of(cluster: &mut Cluster, topic: &str, only: Option<i32>) -> Result<Vec<i32>> {
    let all: Vec<i32> = describe_topic(cluster, topic)?
        .partitions
        .iter()
        .map(|p| p.partition)
        .collect();
    match only {
        None => Ok(all),
        Some(p) if all.contains(&p) => Ok(vec![p]),
        Some(p) => Err(Error::Usage(format!(
            "topic '{topic}' has no partition {p}: it has {} (0 to {})",
            all.len(),
            all.len().saturating_sub(1)
        ))),
    }
}

pub fn truncate(cluster: &mut Cluster, t: TopicTruncate) -> Result<()> {
    let partitions = partitions_of(cluster, &t.name, t.partition)?;
    let earliest = offsets_at(cluster, &t.name, At::Earliest)?;
    let latest = offsets_at(cluster, &t.name, At::Latest)?;
    let at_time = match t.before {
        Before::Time(time) => Some(offsets_at(cluster, &t.name, At::Time(time))?),
        _ => None,
    };
    let mut plan = BTreeMap::new();
    let mut failed = Vec::new();
    for &p in &partitions {
        let end = latest.get(&p).copied().unwrap_or(0);
        let cut = match (t.before, &at_time) {
            (Before::Offset(n), _) if n > end => {
                failed.push((p, format!("offset {n} is past its end ({end})")));
                continue;
            }
            (Before::Offset(n), _) => n,
            (Before::End, _) => end,
            (Before::Time(_), Some(found)) => found.get(&p).copied().unwrap_or(end),
            (Before::Time(_), None) => unreachable!("looked up above"),
        };
        plan.insert(p, cut);
    }
    let results = manage::delete_records(cluster, &t.name, &plan)?;
    let mut out = std::io::stdout().lock();
    for r in &results {
        let was = earliest.get(&r.partition).copied().unwrap_or(0);
        match &r.outcome {
            Ok(low) => {
                let end = latest.get(&r.partition).copied().unwrap_or(*low);
                writeln!(
                    out,
                    "{} partition {}: low watermark {low} (was {was}; {} record{} left)",
                    t.name,
                    r.partition,
                    (end - low).max(0),
                    if end - low == 1 { "" } else { "s" }
                )
                .map_err(Error::Output)?;
            }
            Err(why) => failed.push((r.partition, why.clone())),
        }
    }
    failed.sort();
    match failed.as_slice() {
        [] => Ok(()),
        [(p, why)] => Err(Error::broker(format!(
            "topic '{}' partition {p} not truncated: {why}",
            t.name
        ))),
        [(p, why), rest @ ..] => Err(Error::broker(format!(
            "topic '{}': {} partitions not truncated; partition {p}: {why}",
            t.name,
            rest.len() + 1
        ))),
    }
}

/// The replica list each partition should get, from the `--replicas` specs.
fn reassignment_plan(
    topic: &str,
    specs: &[(Option<i32>, Vec<i32>)],
    only: Option<i32>,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Vec<i32>>> {
    let usage = |m: String| Err(Error::Usage(m));
    let mut plan = BTreeMap::new();
    match specs {
        [(None, ids)] => {
            for &p in partitions {
                plan.insert(p, ids.clone());
            }
        }
        _ if specs.iter().any(|(p, _)| p.is_none()) => {
            return usage(
                "give one --replicas list for every partition (or --partition), or PARTITION:IDS lists only"
                    .into(),
            )
        }
        _ if only.is_some() => {
            return usage("--partition goes with a list without PARTITION: (e.g. --replicas 1,2,0)".into())
        }
        _ => {
            for (p, ids) in specs {
                let p = p.unwrap_or_default();
                if !partitions.contains(&p) {
                    return usage(format!(
                        "topic '{topic}' has no partition {p}: it has {}",
                        partitions.len()
                    ));
                }
                if plan.insert(p, ids.clone()).is_some() {
                    return usage(format!("partition {p} has two --replicas lists"));
                }
            }
        }
    }
    Ok(plan)
}

pub fn reassign(cluster: &mut Cluster, r: TopicReassign) -> Result<()> {
    let topic = describe_topic(cluster, &r.name)?;
    let partitions = partitions_of(cluster, &r.name, r.partition)?;
    let plan = reassignment_plan(&r.name, &r.replicas, r.partition, &partitions)?;
    let info = manage::describe_cluster(cluster)?;
    let known: Vec<i32> = info.brokers.iter().map(|b| b.id).collect();
    if let Some(missing) = plan.values().flatten().find(|id| !known.contains(id)) {
        return Err(Error::broker_with_hint(
            format!(
                "cannot reassign topic '{}': there is no broker {missing} (the brokers are {}, as {} says)",
                r.name,
                join(&known),
                info.answered_by
            ),
            "`kafkademo cluster describe` lists them",
        ));
    }
    let mut out = std::io::stdout().lock();
    for (p, ids) in &plan {
        let now = topic
            .partitions
            .iter()
            .find(|x| x.partition == *p)
            .map(|x| x.replicas.clone())
            .unwrap_or_default();
        let rf = if now.len() != ids.len() {
            format!(
                " (replication factor {} → {}: Kafka allows it; the topic's partitions then differ)",
                now.len(),
                ids.len()
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} partition {p}: replicas {} → {}{rf}",
            r.name,
            join(&now),
            join(ids)
        )
        .map_err(Error::Output)?;
    }
    let refused = manage::reassign(cluster, &r.name, &plan)?;
    if let Some((p, why)) = refused.first() {
        return Err(Error::broker(format!(
            "Kafka refused to reassign topic '{}' partition {p}: {why}{}",
            r.name,
            if refused.len() > 1 {
                format!(" (and {} more partitions)", refused.len() - 1)
            } else {
                String::new()
            }
        )));
    }
    if r.wait.is_zero() {
        writeln!(
            out,
            "Reassignment started; Kafka carries it on (watch it with `kafkademo topic describe {}`).",
            r.name
        )
        .map_err(Error::Output)?;
        return Ok(());
    }
    let started = Instant::now();
    let parts: Vec<i32> = plan.keys().copied().collect();
    let mut last = None;
    loop {
        let ongoing = manage::ongoing_reassignments(cluster, &r.name, &parts)?;
        let done = ongoing.is_empty() && replicas_match(cluster, &r.name, &plan)?;
        if done {
            writeln!(
                out,
                "Reassignment of topic {} done after {:.1} s.",
                r.name,
                started.elapsed().as_secs_f64()
            )
            .map_err(Error::Output)?;
            return Ok(());
        }
        let line = progress(&ongoing);
        if last.as_ref() != Some(&line) {
            writeln!(out, "{line}").map_err(Error::Output)?;
            last = Some(line.clone());
        }
        if started.elapsed() >= r.wait {
            return Err(Error::broker_with_hint(
                format!(
                    "the reassignment of topic '{}' is not done after {}: {line}",
                    r.name,
                    humantime::format_duration(r.wait)
                ),
                format!(
                    "Kafka carries it on; watch it with `kafkademo topic describe {}`",
                    r.name
                ),
            ));
        }
        // Half a second between looks, in slices Ctrl-C cuts short.
        let next = Instant::now() + Duration::from_millis(500);
        while Instant::now() < next {
            if interrupted() {
                eprintln!(
                    "kafkademo: stopped waiting; the reassignment of topic {} continues on the brokers",
                    r.name
                );
                return Err(Error::Interrupted);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether metadata shows every partition with its planned replicas.
fn replicas_match(
    cluster: &mut Cluster,
    topic: &str,
    plan: &BTreeMap<i32, Vec<i32>>,
) -> Result<bool> {
    let t = describe_topic(cluster, topic)?;
    Ok(plan.iter().all(|(p, ids)| {
        t.partitions
            .iter()
            .any(|x| x.partition == *p && &x.replicas == ids)
    }))
}

fn progress(ongoing: &BTreeMap<i32, manage::Ongoing>) -> String {
    if ongoing.is_empty() {
        return "waiting for the metadata to show the new replicas".into();
    }
    let parts: Vec<String> = ongoing
        .iter()
        .map(|(p, o)| {
            let mut s = format!("partition {p}");
            if !o.adding.is_empty() {
                s += &format!(" adding {}", join(&o.adding));
            }
            if !o.removing.is_empty() {
                s += &format!(" removing {}", join(&o.removing));
            }
            s
        })
        .collect();
    format!("in progress: {}", parts.join("; "))
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_show_escaped_in_the_table() {
        let hostile = "a\x1b]0;pwned\x07\x1b[2J";
        let synonym = |value: &str, source| manage::Synonym {
            name: "log.x".into(),
            value: Some(value.into()),
            source,
        };
        let entries = [ConfigEntry {
            name: "x".into(),
            value: Some(hostile.into()),
            source: 1,
            sensitive: false,
            read_only: false,
            synonyms: vec![synonym(hostile, 1), synonym("b\x1b", 4)],
        }];
        let mut out = Vec::new();
        write_configs(&mut out, &entries).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(
            rows[1],
            "x     a\\x1b]0;pwned\\x07\\x1b[2J  topic                       \
             log.x=b\\x1b (broker (server.properties))",
            "{text:?}"
        );
        assert_eq!(rows.len(), 2, "{text:?}");
    }

    #[test]
    fn a_plan_is_one_list_for_all_or_one_per_partition() {
        let all = reassignment_plan("t", &[(None, vec![1, 0])], None, &[0, 1]).unwrap();
        assert_eq!(all, BTreeMap::from([(0, vec![1, 0]), (1, vec![1, 0])]));
        let each = reassignment_plan(
            "t",
            &[(Some(0), vec![1]), (Some(1), vec![0])],
            None,
            &[0, 1],
        )
        .unwrap();
        assert_eq!(each, BTreeMap::from([(0, vec![1]), (1, vec![0])]));
        let msg = |specs: &[(Option<i32>, Vec<i32>)], only| {
            reassignment_plan("t", specs, only, &[0, 1])
                .unwrap_err()
                .to_string()
        };
        assert!(msg(&[(None, vec![1]), (Some(0), vec![0])], None).contains("one --replicas list"));
        assert!(msg(&[(Some(0), vec![1])], Some(0)).contains("--partition goes with"));
        assert!(msg(&[(Some(5), vec![1])], None).contains("no partition 5"));
        assert!(msg(&[(Some(0), vec![1]), (Some(0), vec![0])], None).contains("two --replicas"));
    }
}
