//! The `kafka` crate's calls block for as long as its fixed 120 s socket
//! timeout and cannot be interrupted. Each client therefore lives on a
//! worker thread: the caller hands it a job and waits for the answer only
//! until its deadline (or Ctrl-C's grace). A worker that misses its
//! deadline is abandoned: it finishes (or times out) on its own and exits,
//! and the caller builds a fresh client.

use std::thread;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};

use std::time::Duration;

use kafka::error::Error as KafkaError;

use crate::client::codes;
use crate::client::deadline::{Deadline, Expired, SLICE};
use crate::error::Error;

type Job<T> = Box<dyn FnOnce(&mut T) + Send>;

/// A `kafka` crate object (client, producer) on a thread of its own.
pub struct Worker<T: Send + 'static> {
    jobs: Option<Sender<Job<T>>>,
}

/// Why a job has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// The deadline passed first; the worker is gone.
    TimedOut,
    /// Ctrl-C's grace passed first; the worker is gone.
    Interrupted,
    /// The worker was abandoned earlier, or could not be started.
    Gone,
}

impl<T: Send + 'static> Worker<T> {
    /// Moves `state` onto a new thread named `name`.
    pub fn spawn(name: &str, mut state: T) -> Worker<T> {
        let (tx, rx) = bounded::<Job<T>>(1);
        let started = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for job in rx {
                    job(&mut state);
                }
            });
        Worker {
            jobs: started.ok().map(|_| tx),
        }
    }

    /// False once a job was abandoned: build a new worker.
    pub fn alive(&self) -> bool {
        self.jobs.is_some()
    }

    /// Runs `f` on the worker and waits for its answer until `deadline`.
    pub fn run<R: Send + 'static>(
        &mut self,
        deadline: Deadline,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, Abandoned> {
        let jobs = self.jobs.as_ref().ok_or(Abandoned::Gone)?;
        let (reply, answer) = bounded::<R>(1);
        let job: Job<T> = Box::new(move |state| {
            let _ = reply.send(f(state));
        });
        if jobs.send(job).is_err() {
            self.jobs = None;
            return Err(Abandoned::Gone);
        }
        loop {
            let left = match deadline.check() {
                Ok(left) => left,
                Err(why) => {
                    // Walk away: the thread ends once its job does.
                    self.jobs = None;
                    return Err(match why {
                        Expired::TimedOut => Abandoned::TimedOut,
                        Expired::Interrupted => Abandoned::Interrupted,
                    });
                }
            };
            match answer.recv_timeout(left.min(SLICE)) {
                Ok(r) => return Ok(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.jobs = None;
                    return Err(Abandoned::Gone);
                }
            }
        }
    }
}

/// A job the worker could not finish in time, as one of our errors.
pub fn abandoned(why: Abandoned, brokers: &str, timeout: Duration) -> Error {
    match why {
        Abandoned::Interrupted => Error::Interrupted,
        Abandoned::TimedOut => Error::Timeout {
            addr: brokers.to_string(),
            timeout,
        },
        Abandoned::Gone => Error::Unreachable {
            addr: brokers.to_string(),
            reason: "the connection was lost".into(),
        },
    }
}

/// A `kafka` crate error as one of ours, naming where it happened.
pub fn kafka_error(e: KafkaError, brokers: &str, topic: &str) -> Error {
    match e {
        KafkaError::Io(io) => Error::Unreachable {
            addr: brokers.to_string(),
            reason: io.to_string(),
        },
        KafkaError::NoHostReachable => Error::Unreachable {
            addr: brokers.to_string(),
            reason: "no broker reachable".into(),
        },
        KafkaError::Kafka(code) => codes::partition_error(code as i16, topic, -1, brokers),
        KafkaError::TopicPartitionError {
            topic_name,
            partition_id,
            error_code,
        } => codes::partition_error(error_code as i16, &topic_name, partition_id, brokers),
        other => Error::broker(format!("topic '{topic}' at {brokers}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn answers_come_back_and_state_persists() {
        let mut w = Worker::spawn("test", 0u32);
        for i in 1..=3 {
            let got = w.run(Deadline::after(Duration::from_secs(5)), move |n| {
                *n += 1;
                *n * 10
            });
            assert_eq!(got, Ok(i * 10));
        }
    }

    #[test]
    fn a_stuck_job_is_abandoned_at_its_deadline() {
        let mut w = Worker::spawn("test", ());
        let t = Instant::now();
        let got = w.run(Deadline::after(Duration::from_millis(100)), |_| {
            std::thread::sleep(Duration::from_secs(3));
        });
        assert_eq!(got, Err(Abandoned::TimedOut));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert!(!w.alive());
        assert_eq!(
            w.run(Deadline::after(Duration::from_secs(1)), |_| ()),
            Err(Abandoned::Gone)
        );
    }
}
