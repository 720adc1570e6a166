//! `/metrics`: what the watcher (src/web/watch.rs) last saw, in the
//! Prometheus/OpenMetrics text format, through `prometheus-client`. A fresh
//! registry per scrape, filled from the latest `View`: the metrics are the
//! cluster's state, not counters of ours, so a deleted topic or group simply
//! stops being exported. docs/monitoring.md lists every metric.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use crate::client::observe::BrokerStatus;
use crate::observe::Status;
use crate::web::watch::Seen;

/// The Content-Type of the answer (prometheus-client writes OpenMetrics 1.0,
/// which Prometheus asks for first; its classic text parsers read it too).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type IntFamily = Family<Labels, Gauge>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const STATUSES: [Status; 5] = [
    Status::Ok,
    Status::Warn,
    Status::Stall,
    Status::Stop,
    Status::Err,
];

/// The exposition of what was seen.
pub fn render(seen: &Seen) -> String {
    let mut registry = Registry::default();

    let up = Gauge::<i64>::default();
    up.set(i64::from(seen.up));
    registry.register(
        "kafkademo_up",
        "1 when the latest cluster snapshot succeeded (and is recent), else 0",
        up,
    );
    let errors = Counter::<u64>::default();
    errors.inc_by(seen.errors);
    registry.register(
        "kafkademo_scrape_errors",
        "Cluster snapshots that failed since the server started",
        errors,
    );
    if let Some(d) = seen.duration {
        let g = FloatGauge::default();
        g.set(d.as_secs_f64());
        registry.register_with_unit(
            "kafkademo_scrape_duration",
            "How long the latest cluster snapshot took",
            Unit::Seconds,
            g,
        );
    }
    let brokers_up = Gauge::<i64>::default();
    registry.register(
        "kafkademo_brokers_up",
        "Brokers in the metadata that answered the latest snapshot",
        brokers_up.clone(),
    );

    let view = match (&seen.view, seen.up) {
        (Some(v), true) => v,
        // down: the cluster's series would be stale, leave them out
        _ => return finish(&registry),
    };

    let broker_up = IntFamily::default();
    for b in &view.brokers {
        let id = b.id.to_string();
        let is_up = b.status == BrokerStatus::Up;
        broker_up
            .get_or_create(&labels(&[("broker", &id)]))
            .set(i64::from(is_up));
    }
    brokers_up.set(
        view.brokers
            .iter()
            .filter(|b| b.status == BrokerStatus::Up)
            .count() as i64,
    );
    registry.register(
        "kafkademo_broker_up",
        "1 when the broker is in the metadata and answered, 0 when unreachable or gone",
        broker_up,
    );

    let log_end = IntFamily::default();
    let isr = IntFamily::default();
    let replicas = IntFamily::default();
    let under = IntFamily::default();
    let offline = IntFamily::default();
    for t in view.topics.iter().filter(|t| !t.internal) {
        for p in &t.partitions {
            let part = p.partition.to_string();
            let l = labels(&[("topic", &t.name), ("partition", &part)]);
            if let Some(end) = p.log_end {
                log_end.get_or_create(&l).set(end);
            }
            isr.get_or_create(&l).set(p.isr.len() as i64);
            replicas.get_or_create(&l).set(p.replicas.len() as i64);
        }
        let l = labels(&[("topic", &t.name)]);
        under.get_or_create(&l).set(t.under_replicated as i64);
        offline.get_or_create(&l).set(t.offline as i64);
    }
    registry.register(
        "kafkademo_partition_log_end_offset",
        "The partition's high watermark (log-end offset as consumers see it)",
        log_end,
    );
    registry.register("kafkademo_partition_isr_size", "Replicas in sync", isr);
    registry.register(
        "kafkademo_partition_replicas",
        "Replicas assigned",
        replicas,
    );
    registry.register(
        "kafkademo_partitions_under_replicated",
        "Partitions whose ISR is smaller than their replica set",
        under,
    );
    registry.register(
        "kafkademo_partitions_offline",
        "Partitions without a leader",
        offline,
    );

    let lag = IntFamily::default();
    let lag_seconds = Family::<Labels, FloatGauge>::default();
    let status = IntFamily::default();
    for g in &view.groups {
        for p in &g.partitions {
            let part = p.offset.partition.to_string();
            let l = labels(&[
                ("group", &g.name),
                ("topic", &p.offset.topic),
                ("partition", &part),
            ]);
            if let Some(v) = p.lag {
                lag.get_or_create(&l).set(v);
            }
            if let Some(ms) = p.time_lag.millis() {
                lag_seconds.get_or_create(&l).set(ms as f64 / 1000.0);
            }
        }
        for s in STATUSES {
            status
                .get_or_create(&labels(&[("group", &g.name), ("status", s.name())]))
                .set(i64::from(g.status == s));
        }
    }
    registry.register(
        "kafkademo_consumergroup_lag",
        "Records not yet consumed: log end minus committed offset",
        lag,
    );
    registry.register_with_unit(
        "kafkademo_consumergroup_lag",
        "Age of the oldest record not yet consumed (estimated from the log end's history)",
        Unit::Seconds,
        lag_seconds,
    );
    registry.register(
        "kafkademo_consumergroup_status",
        "The group's judgement as a state set: 1 for its status (OK, WARN, STALL, STOP, ERR), 0 for the others",
        status,
    );
    finish(&registry)
}

fn finish(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = encode(&mut out, registry) {
        log::warn!("cannot encode the metrics: {e}");
    }
    out
}
