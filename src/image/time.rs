//! Timestamps: RFC 3339 parsing for image configs, and "x ago" for tables.
//! Calendar and time-zone arithmetic is jiff's.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Seconds since the epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses an RFC 3339 time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`), as
/// image configs write `created`, into seconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_second())
}

/// The timestamp of `t` seconds since the epoch; out of jiff's range
/// (past the year 9999) it is clamped.
fn timestamp(t: i64) -> Timestamp {
    Timestamp::from_second(t).unwrap_or(if t < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(t: i64) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `YYYY-MM-DD HH:MM:SS +0000 UTC`, as docker's `CreatedAt` fields print.
pub fn format_docker(t: i64) -> String {
    timestamp(t)
        .strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, for logs.
pub fn format_rfc3339_nanos(t: std::time::SystemTime) -> String {
    Timestamp::try_from(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%S.%NZ")
        .to_string()
}

/// Seconds since the epoch of midnight (UTC) of a date of the proleptic
/// Gregorian calendar; `None` if there is no such day.
pub(crate) fn midnight_utc(y: i64, m: i64, d: i64) -> Option<i64> {
    let date = jiff::civil::Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()?;
    Some(
        date.to_zoned_datetime(TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

/// Seconds east of UTC of the local time zone for a local wall-clock time,
/// given as the seconds since the epoch it would be in UTC (`logs --since
/// 2020-07-01T12:00`): the offset in force then, as Go's
/// `time.ParseInLocation` takes it (in a gap or an overlap, the earlier
/// offset). The zone is `$TZ` (a name, a path or a POSIX rule), else
/// `/etc/localtime`; UTC when none can be read.
pub fn local_offset_of_wall_time(wall: i64) -> i64 {
    offset_of_wall_time(&TimeZone::try_system().unwrap_or(TimeZone::UTC), wall)
}

fn offset_of_wall_time(tz: &TimeZone, wall: i64) -> i64 {
    let civil = timestamp(wall).to_zoned_datetime(TimeZone::UTC).datetime();
    tz.to_ambiguous_timestamp(civil)
        .compatible()
        .map_or(0, |t| wall - t.as_second())
}

/// Docker's coarse duration: "Less than a second", "3 minutes", "About an hour".
pub fn duration_text(secs: i64) -> String {
    let s = secs.max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match s {
        0 => "Less than a second".into(),
        1..=59 => plural(s, "second"),
        60..=119 => "About a minute".into(),
        120..=2759 => plural(s / 60, "minute"),
        2760..=5399 => "About an hour".into(),
        5400..=172799 => plural((s + 1800) / 3600, "hour"),
        172800..=1209599 => plural(s / 86400, "day"),
        1209600..=5183999 => plural(s / 604800, "week"),
        5184000..=63071999 => plural(s / 2592000, "month"),
        _ => plural(s / 31536000, "year"),
    }
}

/// "2 hours ago", since `then` (seconds since the epoch).
pub fn ago(then: i64) -> String {
    format!("{} ago", duration_text(now() - then))
}

/// Docker's human sizes (SI units, three significant digits).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:34:56.123456789Z"),
            Some(1709210096)
        );
        assert_eq!(parse_rfc3339("2024-02-29T14:34:56+02:00"), Some(1709210096));
        assert_eq!(parse_rfc3339("2024-02-29 14:34:56+02:00"), Some(1709210096));
        assert_eq!(parse_rfc3339("2024-02-29t12:34:56z"), Some(1709210096));
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56"), None, "no zone");
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        for t in [0, 951782400, 1709210096, 4102444800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(format_rfc3339(1709210096), "2024-02-29T12:34:56Z");
        assert_eq!(format_docker(1709210096), "2024-02-29 12:34:56 +0000 UTC");
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1709210096, 5);
        assert_eq!(format_rfc3339_nanos(t), "2024-02-29T12:34:56.000000005Z");
        assert_eq!(midnight_utc(2024, 2, 29), Some(1709164800));
        assert_eq!(midnight_utc(2023, 2, 29), None);
    }

    /// A local time takes the offset in force at that date, not today's.
    #[test]
    fn wall_time_offsets() {
        let berlin = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let wall = |s: &str| parse_rfc3339(&format!("{s}Z")).unwrap();
        assert_eq!(
            offset_of_wall_time(&berlin, wall("2024-01-15T12:00:00")),
            3600
        );
        assert_eq!(
            offset_of_wall_time(&berlin, wall("2024-07-15T12:00:00")),
            7200
        );
        assert_eq!(
            offset_of_wall_time(&TimeZone::UTC, wall("2024-07-15T12:00:00")),
            0
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(4_000_000), "4MB");
    }
}
