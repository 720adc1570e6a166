//! `kafkademo web` as `bench top-cost` runs it: a child process on a free
//! port, its /metrics scraped over HTTP, and what a scrape says of the
//! watcher (the time of its last refresh, how many series it has).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};

use super::super::harness::{interrupted, io_error, pause};

/// A running `kafkademo web`, stopped when dropped.
pub struct Web {
    child: Child,
    port: u16,
    agent: ureq::Agent,
}

impl Web {
    /// Starts `kafkademo web` showing `topic` on a free port of 127.0.0.1,
    /// with its output in `log`, and waits (10 s at most) until it answers.
    pub fn start(kafkademo: &Path, brokers: &str, topic: &str, log: &Path) -> Result<Web> {
        let port = free_port()?;
        let out = File::create(log).map_err(|e| io_error(log, e))?;
        let err = out.try_clone().map_err(|e| io_error(log, e))?;
        let child = Command::new(kafkademo)
            .args(["--brokers", brokers, "web", "--topic", topic])
            .args(["--port", &port.to_string(), "--history", "0"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| io_error(kafkademo, e))?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let mut web = Web { child, port, agent };
        for _ in 0..50 {
            if web.get("/").is_ok() {
                return Ok(web);
            }
            if let Ok(Some(status)) = web.child.try_wait() {
                return Err(Error::Data {
                    message: format!(
                        "kafkademo web ended ({status}); its output: {}",
                        log.display()
                    ),
                    hint: None,
                });
            }
            pause(Duration::from_millis(200))?;
        }
        Err(Error::Data {
            message: format!(
                "kafkademo web does not answer on 127.0.0.1:{port} after 10 s; its output: {}",
                log.display()
            ),
            hint: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The body of GET `path`, or why not (one line).
    pub fn get(&self, path: &str) -> std::result::Result<String, String> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        self.agent
            .get(&url)
            .call()
            .and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_to_string())
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// SIGTERM, up to 5 s, then SIGKILL.
    pub fn stop(mut self) -> Result<()> {
        self.terminate();
        interrupted()
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill only sends a signal, to our own child (not reaped yet).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A port of 127.0.0.1 nothing listens on now.
fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Data {
            message: format!("cannot find a free port on 127.0.0.1: {e}"),
            hint: None,
        })
}

/// The watcher's last refresh time (kafkademo_scrape_duration_seconds) in
/// a /metrics text, in seconds.
pub fn scrape_duration(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("kafkademo_scrape_duration_seconds "))?
        .trim()
        .parse()
        .ok()
}

/// The samples of kafkademo's own metrics in a /metrics text (the lines
/// that are not comments).
pub fn series(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|l| l.starts_with("kafkademo_"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "# HELP kafkademo_scrape_duration_seconds Time of the last refresh.\n\
        # TYPE kafkademo_scrape_duration_seconds gauge\n\
        kafkademo_scrape_duration_seconds 0.0071\n\
        # TYPE kafkademo_partition_log_end_offset gauge\n\
        kafkademo_partition_log_end_offset{topic=\"t\",partition=\"0\"} 20\n\
        kafkademo_partition_log_end_offset{topic=\"t\",partition=\"1\"} 0\n\
        # EOF\n";

    #[test]
    fn a_scrape_says_its_refresh_time_and_series() {
        assert_eq!(scrape_duration(METRICS), Some(0.0071));
        assert_eq!(series(METRICS), 3);
        assert_eq!(scrape_duration("# EOF\n"), None);
        assert_eq!(series(""), 0);
    }
}
