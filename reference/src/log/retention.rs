//! Which segments retention deletes: Kafka's `UnifiedLog.deleteOldSegments` and its
//! `deletableSegments` walk, as one pure function both logs call.

use crate::defects::{Defect, active};

/// What retention needs to know about one segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub base_offset: i64,
    pub size_bytes: u64,
    /// The largest record timestamp, -1 when no batch has one.
    pub max_timestamp: i64,
    /// Wall-clock ms when the segment was created (only the RetentionIgnoresTimestamps defect
    /// looks at it).
    pub created_ms: i64,
}

/// Retention settings and bounds for one pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub now_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// How many segments, from the oldest, retention deletes. `segments` ends with the active one,
/// which counts like the others when it holds records and the high watermark is at the log end
/// (the log then rolls a new, empty active segment first: `UnifiedLog.deleteSegments`, "we must
/// always have at least one segment"); an empty active segment never counts
/// (`isLastSegmentAndEmpty`). The RetentionDeletesUnexpiredActiveSegment defect takes the active segment
/// whatever its age, once every older segment went.
pub(crate) fn deletable(segments: &[Candidate], rules: &Rules) -> usize {
    let n = segments.len();
    let with_active = active(Defect::RetentionDeletesUnexpiredActiveSegment);
    // Kafka's `deletableSegments`: a segment is a candidate only when everything up to the next
    // segment's base offset (the log end for the active one) is below the high watermark, so
    // that the log start never passes it.
    let may_delete = |i: usize| {
        if i + 1 == n && segments[i].size_bytes == 0 {
            return false;
        }
        let upper = segments.get(i + 1).map_or(rules.log_end_offset, |s| s.base_offset);
        rules.high_watermark >= upper
    };
    let mut deleted = 0;

    // `deleteLogStartOffsetBreachedSegments`: the next segment starts at or below the log start.
    while deleted < n
        && may_delete(deleted)
        && segments.get(deleted + 1).is_some_and(|next| next.base_offset <= rules.log_start_offset)
    {
        deleted += 1;
    }

    // `deleteRetentionSizeBreachedSegments`.
    if let Ok(retention_bytes) = u64::try_from(rules.retention_bytes) {
        let size: u64 = segments[deleted..].iter().map(|s| s.size_bytes).sum();
        if size >= retention_bytes {
            let mut diff = size - retention_bytes;
            let before = deleted;
            while deleted < n && may_delete(deleted) && diff >= segments[deleted].size_bytes {
                diff -= segments[deleted].size_bytes;
                deleted += 1;
            }
            if active(Defect::SizeRetentionOvershoots) && deleted > before && may_delete(deleted) {
                // The defect: one segment too many, leaving less than retention.bytes.
                deleted += 1;
            }
        }
    }

    // `deleteRetentionMsBreachedSegments`: `startMs - segment.largestTimestamp > retentionMs`.
    if rules.retention_ms >= 0 {
        let expired = |s: &Candidate| {
            if s.size_bytes == 0 {
                // Nothing left to keep (a segment the cleaner emptied). Kafka falls back to the
                // file's modification time for a segment without timestamps.
                return true;
            }
            let timestamp = match active(Defect::RetentionIgnoresTimestamps) {
                true => s.created_ms,
                false => s.max_timestamp,
            };
            timestamp >= 0 && rules.now_ms.saturating_sub(timestamp) > rules.retention_ms
        };
        while deleted < n && may_delete(deleted) && expired(&segments[deleted]) {
            deleted += 1;
        }
    }
    // Not only in the pass that took the last older segment: a pass may run between an append
    // and the high watermark's move, and the next one must still find the active segment.
    if with_active
        && n > 0
        && deleted + 1 == n
        && segments[n - 1].base_offset > 0
        && segments[n - 1].size_bytes > 0
        && rules.high_watermark >= rules.log_end_offset
    {
        deleted = n;
    }
    deleted
}
