//! `kafkademo transactions list|describe`: what kafka-transactions.sh's
//! `list` and `describe` show, to see which transactional producers exist,
//! which transaction is open and what it holds back from read_committed
//! readers (README, "Transactions").

use std::io::Write;

use crate::cli::{Format, TransactionsCommand};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::txn_state::{self, Described, Listed};
use crate::error::{Error, Result};
use crate::render::Escaped;

pub fn execute(brokers: &BrokerConfig, cmd: TransactionsCommand) -> Result<()> {
    let mut cluster = Cluster::connect(brokers)?;
    // Transactional ids and topic names come from the cluster: escaped, so
    // none can drive the terminal.
    let mut out = Escaped(std::io::stdout().lock());
    match cmd {
        TransactionsCommand::List { state, format } => {
            let listed = txn_state::list(&mut cluster, &state)?;
            match format {
                Format::Json => json(&mut out, &listed),
                Format::Text => list_text(&mut out, &listed).map_err(Error::Output),
            }
        }
        TransactionsCommand::Describe { id, format } => {
            let Some(d) = txn_state::describe(&mut cluster, &id)? else {
                return Err(Error::broker_with_hint(
                    format!(
                        "no transactional id '{id}' (brokers {})",
                        cluster.config.display()
                    ),
                    "list the ids with `kafkademo transactions list`",
                ));
            };
            match format {
                Format::Json => json(&mut out, &d),
                Format::Text => describe_text(&mut out, &d, now_ms()).map_err(Error::Output),
            }
        }
    }
}

fn json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::broker(format!("cannot write the answer as JSON: {e}")))?;
    writeln!(out, "{json}").map_err(Error::Output)
}

fn list_text(out: &mut impl Write, listed: &[Listed]) -> std::io::Result<()> {
    let rows: Vec<[String; 4]> = listed
        .iter()
        .map(|t| {
            [
                t.transactional_id.clone(),
                t.coordinator.to_string(),
                t.producer_id.to_string(),
                t.state.clone(),
            ]
        })
        .collect();
    let header = ["TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID", "STATE"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: [&str; 4]| {
        writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    line(out, header)?;
    for row in &rows {
        line(out, [&row[0], &row[1], &row[2], &row[3]])?;
    }
    Ok(())
}

fn describe_text(out: &mut impl Write, d: &Described, now_ms: i64) -> std::io::Result<()> {
    writeln!(out, "Transactional id: {}", d.transactional_id)?;
    writeln!(out, "Coordinator:      broker {}", d.coordinator)?;
    writeln!(
        out,
        "Producer:         id {} epoch {}",
        d.producer_id, d.producer_epoch
    )?;
    writeln!(out, "State:            {}", d.state)?;
    writeln!(out, "Timeout:          {} ms", d.timeout_ms)?;
    if d.start_time_ms >= 0 {
        let age = now_ms.saturating_sub(d.start_time_ms).max(0);
        writeln!(
            out,
            "Open since:       {} ms ago ({} ms since the epoch)",
            age, d.start_time_ms
        )?;
    }
    if d.partitions.is_empty() {
        writeln!(out, "Partitions:       none")?;
    } else {
        let list: Vec<String> = d
            .partitions
            .iter()
            .map(|(t, p)| format!("{t}-{p}"))
            .collect();
        writeln!(out, "Partitions:       {}", list.join(", "))?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_the_open_transaction_and_its_age() {
        let d = Described {
            transactional_id: "t1".into(),
            coordinator: 2,
            producer_id: 7,
            producer_epoch: 3,
            state: "Ongoing".into(),
            timeout_ms: 60000,
            start_time_ms: 1_000,
            partitions: vec![("a".into(), 0), ("a".into(), 2)],
        };
        let mut out = Vec::new();
        describe_text(&mut out, &d, 4_500).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Producer:         id 7 epoch 3\n"), "{text}");
        assert!(text.contains("Open since:       3500 ms ago"), "{text}");
        assert!(text.contains("Partitions:       a-0, a-2\n"), "{text}");
    }

    #[test]
    fn list_aligns_columns() {
        let listed = [
            Listed {
                transactional_id: "a-long-id".into(),
                coordinator: 0,
                producer_id: 12,
                state: "Ongoing".into(),
            },
            Listed {
                transactional_id: "b".into(),
                coordinator: 1,
                producer_id: 3,
                state: "CompleteCommit".into(),
            },
        ];
        let mut out = Vec::new();
        list_text(&mut out, &listed).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "TRANSACTIONAL-ID  COORDINATOR  PRODUCER-ID  STATE"
        );
        assert_eq!(
            lines[1],
            "a-long-id         0            12           Ongoing"
        );
        assert_eq!(
            lines[2],
            "b                 1            3            CompleteCommit"
        );
    }
}
