//! The broker's periodic upkeep of the replicas it hosts: retention, the log cleaner, expiring
//! idle producers, and checkpointing high watermarks, each on Kafka's interval setting.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Broker;
use crate::now_ms;

/// Starts the periodic tasks.
pub(super) fn start(broker: &Arc<Broker>) {
    let b = broker.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(b.config.log_retention_check_interval_ms));
        loop {
            interval.tick().await;
            b.apply_retention();
        }
    });
    if broker.config.log_cleaner_enable {
        let b = broker.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(b.config.log_cleaner_backoff_ms));
            loop {
                interval.tick().await;
                b.clean_logs();
            }
        });
    }
    let b = broker.clone();
    tokio::spawn(async move {
        let every = Duration::from_millis(b.config.producer_id_expiration_check_interval_ms);
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            let expiration = i64::try_from(b.config.producer_id_expiration_ms).unwrap_or(i64::MAX);
            for p in b.local_partitions() {
                let gone = p.expire_producers(now_ms(), expiration);
                if gone > 0 {
                    tracing::info!("{}: {gone} idempotent producers expired", p.name());
                }
            }
        }
    });
    let b = broker.clone();
    tokio::spawn(async move {
        let every = Duration::from_millis(b.config.replica_high_watermark_checkpoint_interval_ms);
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            b.checkpoint_hw();
        }
    });
}

impl Broker {
    /// Kafka's retention pass (every `log.retention.check.interval.ms`), on every replica: whole
    /// segments below the high watermark go by `retention.ms` and `retention.bytes` when the
    /// topic's cleanup.policy includes delete, and below the log start offset always.
    fn apply_retention(&self) {
        for p in self.local_partitions() {
            let Some(topic) = self.topic_by_id(p.topic_id) else { continue };
            let cfg = topic.config;
            let (ms, bytes) = if cfg.deletes() { (cfg.retention_ms(), cfg.retention_bytes()) } else { (-1, -1) };
            let result = p.apply_retention(now_ms(), ms, bytes);
            match result {
                Ok(o) if o.deleted_segments > 0 => tracing::info!(
                    "{}: retention deleted {} segments; the log starts at {}",
                    p.name(),
                    o.deleted_segments,
                    o.log_start_offset
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("{}: retention: {e}", p.name()),
            }
        }
    }

    /// One cleaner pass over the compacted partitions hosted here (Kafka's LogCleaner, which
    /// runs on every replica), below each one's high watermark.
    fn clean_logs(&self) {
        for p in self.local_partitions() {
            let Some(topic) = self.topic_by_id(p.topic_id) else { continue };
            if !topic.config.compacted() {
                continue;
            }
            let result = p.compact(|hw| topic.config.cleaner_config(now_ms(), hw));
            match result {
                Ok(o) if o.cleaned => tracing::info!(
                    "{}: cleaned up to {}: {} records and {} tombstones removed",
                    p.name(),
                    o.first_uncleanable_offset,
                    o.records_removed,
                    o.tombstones_removed
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("{}: cleaning: {e}", p.name()),
            }
        }
    }

    /// Writes every hosted partition's high watermark to `replication-offset-checkpoint`, in
    /// Kafka's format (version, count, then `topic partition offset` lines).
    pub fn checkpoint_hw(&self) {
        let parts = self.local_partitions();
        let mut text = format!("0\n{}\n", parts.len());
        for p in &parts {
            text.push_str(&format!("{} {} {}\n", p.topic, p.index, p.high_watermark()));
        }
        let tmp = self.data_dir.join(format!("{HW_CHECKPOINT}.tmp"));
        if let Err(e) =
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, self.data_dir.join(HW_CHECKPOINT)))
        {
            tracing::warn!("writing {HW_CHECKPOINT}: {e}");
        }
    }
}

pub(super) const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

pub(super) fn read_hw_checkpoint(path: &Path) -> BTreeMap<(String, i32), i64> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (t, p, o) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some(((t.to_string(), p), o))
        })
        .collect()
}
