//! The harness's own clock: record timestamps a step chooses, relative to now. Kept apart from
//! the reference broker's code, as every part of the oracle is.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as Kafka's record timestamps count them.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A timestamp relative to `now`: `now`, `<n> <unit> ago` or `in <n> <unit>`, with the unit one
/// of `ms`, `second(s)`, `minute(s)`, `hour(s)`, `day(s)`.
pub fn relative_ms(text: &str, now: i64) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a time: write now, <n> minutes ago or in <n> hours");
    if text == "now" {
        return Ok(now);
    }
    let (sign, rest) = if let Some(rest) = text.strip_prefix("in ") {
        (1, rest)
    } else if let Some(rest) = text.strip_suffix(" ago") {
        (-1, rest)
    } else {
        return Err(bad());
    };
    let (n, unit) = rest.trim().split_once(' ').ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ms = match unit.trim_end_matches('s') {
        "m" => 1,
        "second" => 1_000,
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        _ => return Err(bad()),
    };
    Ok(now + sign * n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_count_from_now() {
        assert_eq!(relative_ms("now", 10_000_000), Ok(10_000_000));
        assert_eq!(relative_ms("2 hours ago", 10_000_000), Ok(10_000_000 - 7_200_000));
        assert_eq!(relative_ms("in 1 minute", 0), Ok(60_000));
        assert_eq!(relative_ms("59 minutes ago", 3_600_000), Ok(60_000));
        assert_eq!(relative_ms("in 250 ms", 0), Ok(250));
        assert!(relative_ms("yesterday", 0).is_err());
        assert!(relative_ms("in two hours", 0).is_err());
        assert!(relative_ms("2 fortnights ago", 0).is_err());
    }
}
