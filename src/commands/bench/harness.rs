//! What the hidden measuring subcommands the scripts call (`bench compare`,
//! `bench stream-compare`, `bench top-cost`) share: progress lines on a
//! checked stdout, a file's error naming the file, stopping at Ctrl-C
//! between two measurements (or during a pause) rather than in the middle
//! of one, the results.tsv they append to row by row, and the topics they
//! create and always delete.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::client::admin::{self, NewTopic};
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::error::{Error, Result};
use crate::signal;

/// One line on stdout; a closed stdout ends the run (Error::Output).
pub fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Error::Interrupted once Ctrl-C was pressed.
pub fn interrupted() -> Result<()> {
    if signal::interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Waits `d` (a measured stretch of time, or the broker settling), cut
/// short by Ctrl-C.
pub fn pause(d: Duration) -> Result<()> {
    pause_until(Instant::now() + d)
}

/// Waits until `t`, cut short by Ctrl-C.
pub fn pause_until(t: Instant) -> Result<()> {
    loop {
        interrupted()?;
        let left = t.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

pub fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Data {
        message: format!("{}: {e}", path.display()),
        hint: None,
    }
}

/// results.tsv, appended to row by row so that an interrupted run keeps
/// what it measured.
pub struct Results {
    path: PathBuf,
    file: File,
}

impl Results {
    /// Opens `path` for appending; writes `header` when it is new or empty.
    pub fn open(path: &Path, header: &str) -> Result<Results> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        let empty = file.metadata().map_err(|e| io_error(path, e))?.len() == 0;
        if empty {
            writeln!(file, "{header}").map_err(|e| io_error(path, e))?;
        }
        Ok(Results {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn row(&mut self, line: &str) -> Result<()> {
        writeln!(self.file, "{line}").map_err(|e| io_error(&self.path, e))
    }
}

/// The topics of a run, created through the client layer and deleted when
/// done with, or when the run ends whichever way it ends.
pub struct Topics {
    brokers: BrokerConfig,
    prefix: String,
    names: Vec<String>,
}

impl Topics {
    /// Every topic's name is `prefix` followed by its tag.
    pub fn new(brokers: &BrokerConfig, prefix: String) -> Topics {
        Topics {
            brokers: brokers.clone(),
            prefix,
            names: Vec::new(),
        }
    }

    pub fn create(&mut self, tag: &str, partitions: i32) -> Result<String> {
        self.create_with(tag, partitions, &[])
    }

    /// A topic with these settings (cleanup.policy and the like).
    pub fn create_with(
        &mut self,
        tag: &str,
        partitions: i32,
        configs: &[(String, String)],
    ) -> Result<String> {
        let name = format!("{}{tag}", self.prefix);
        // Listed first: a creation cut short (Ctrl-C while waiting for its
        // leaders) may still leave the topic.
        self.names.push(name.clone());
        let mut cluster = Cluster::connect(&self.brokers)?;
        admin::create_topic(
            &mut cluster,
            &NewTopic {
                name: &name,
                partitions,
                replication_factor: 1,
                configs,
            },
        )?;
        Ok(name)
    }

    /// Deletes a topic; a failure is only logged (the topic is left over).
    pub fn drop(&mut self, name: &str) {
        self.names.retain(|n| n != name);
        let deleted = Cluster::connect(&self.brokers)
            .and_then(|mut cluster| admin::delete_topic(&mut cluster, name));
        if let Err(e) = deleted {
            log::warn!("cannot delete topic '{name}': {e}");
        }
    }

    /// The topics not deleted yet, which this no longer deletes.
    pub fn forget_all(&mut self) -> Vec<String> {
        std::mem::take(&mut self.names)
    }

    pub fn drop_all(&mut self) {
        for name in std::mem::take(&mut self.names) {
            self.drop(&name);
        }
    }
}

impl Drop for Topics {
    fn drop(&mut self) {
        self.drop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_written_once() {
        let path = std::env::temp_dir().join(format!("kd-harness-{}.tsv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Results::open(&path, "a\tb").unwrap().row("1\t2").unwrap();
        Results::open(&path, "a\tb").unwrap().row("3\t4").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "a\tb\n1\t2\n3\t4\n");
        std::fs::remove_file(&path).unwrap();
    }
}
