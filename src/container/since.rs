//! `logs --since`/`--until` values, read as docker's `GetTimestamp` reads
//! them, to nanoseconds since the epoch:
//!
//! * a Go duration before now: `42m`, `1h30m`, `1.5h`, `90s`, `300ms`,
//!   `-1h` (in the future), `0`;
//! * a date and time: `2006-01-02`, `2006-01-02T15`, `2006-01-02T15:04`,
//!   `2006-01-02T15:04:05[.fraction]`, each with a zone (`Z`, `+07:00`)
//!   or without one, in local time (the zone's offset at that time, as
//!   docker's `ParseInLocation`);
//! * unix seconds with an optional fraction: `1600000000.5`.
//!
//! Pure: the caller passes the time now and the local offset.

const SEC: i128 = 1_000_000_000;

/// Nanoseconds since the epoch of `value`; `None` if it is none of the
/// forms. `local_offset` gives the local zone's offset for a wall-clock time
/// (seconds since the epoch as if it were UTC).
pub fn parse(value: &str, now: i128, local_offset: impl Fn(i64) -> i64) -> Option<i128> {
    if let Some(d) = go_duration(value) {
        return Some(now - d);
    }
    // As docker: a zone is given by `Z`, `+` or a third `-`.
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if let Some(t) = date_time(value, zoned) {
        return Some(if zoned {
            t
        } else {
            t - i128::from(local_offset(i64::try_from(t.div_euclid(SEC)).ok()?)) * SEC
        });
    }
    if value.contains('-') {
        return None;
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    Some(i128::from(secs) * SEC + fraction(frac)?)
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn go_duration(s: &str) -> Option<i128> {
    let (sign, mut r) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    if r == "0" {
        return Some(0);
    }
    if r.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !r.is_empty() {
        let int_len = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        let (int, rest) = r.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => SEC,
            "m" => 60 * SEC,
            "h" => 3600 * SEC,
            _ => return None,
        };
        let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut part = int.checked_mul(scale)?;
        let mut place = scale;
        for d in frac.bytes().take(30) {
            place /= 10;
            part += i128::from(d - b'0') * place;
        }
        total = total.checked_add(part)?;
        r = rest;
    }
    Some(sign * total)
}

/// Up to nine digits of a second, in nanoseconds (more are cut).
fn fraction(digits: &str) -> Option<i128> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns: i128 = 0;
    for i in 0..9 {
        ns = ns * 10 + digits.as_bytes().get(i).map_or(0, |d| i128::from(d - b'0'));
    }
    Some(ns)
}

/// `YYYY-MM-DD[THH[:MM[:SS[.frac]]]][zone]`: nanoseconds since the epoch
/// of the time as written (UTC when there is no zone), the zone applied.
fn date_time(s: &str, zoned: bool) -> Option<i128> {
    let num = |r: &str| -> Option<i64> {
        (r.len() == 2 || r.len() == 4)
            .then_some(())
            .and(r.bytes().all(|b| b.is_ascii_digit()).then_some(()))?;
        r.parse().ok()
    };
    let (y, mo, d) = (num(s.get(0..4)?)?, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" {
        return None;
    }
    let mut secs = crate::image::time::midnight_utc(y, mo, d)?;
    let mut r = &s[10..];
    let mut nanos = 0;
    if let Some(t) = r.strip_prefix('T') {
        let h = num(t.get(0..2)?)?;
        r = &t[2..];
        let mut parts = [h, 0, 0];
        for p in parts.iter_mut().skip(1) {
            match r.strip_prefix(':') {
                Some(x) if x.get(0..2).and_then(num).is_some() => {
                    *p = num(&x[0..2])?;
                    r = &x[2..];
                }
                _ => break,
            }
        }
        if h > 23 || parts[1] > 59 || parts[2] > 60 {
            return None;
        }
        if let Some(f) = r.strip_prefix('.') {
            let len = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
            if len == 0 || s.matches(':').count() < 2 {
                return None;
            }
            nanos = fraction(&f[..len])?;
            r = &f[len..];
        }
        secs += parts[0] * 3600 + parts[1] * 60 + parts[2];
    }
    let offset = match (zoned, r.as_bytes()) {
        (false, []) => 0,
        (true, [b'Z' | b'z']) => 0,
        (true, [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let digit = |b: &u8| b.is_ascii_digit().then(|| i64::from(b - b'0'));
            let v = (digit(h1)? * 10 + digit(h2)?) * 3600 + (digit(m1)? * 10 + digit(m2)?) * 60;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    Some(i128::from(secs - offset) * SEC + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_700_000_000 * SEC;

    fn at(v: &str) -> Option<i128> {
        parse(v, NOW, |_| 3600)
    }

    #[test]
    fn durations() {
        assert_eq!(at("1h30m"), Some(NOW - 5400 * SEC));
        assert_eq!(at("1.5h"), Some(NOW - 5400 * SEC));
        assert_eq!(at("90s"), Some(NOW - 90 * SEC));
        assert_eq!(at("42m"), Some(NOW - 2520 * SEC));
        assert_eq!(at("300ms"), Some(NOW - 300_000_000));
        assert_eq!(at("1us500ns"), Some(NOW - 1500));
        assert_eq!(at(".5s"), Some(NOW - SEC / 2));
        assert_eq!(at("-1h"), Some(NOW + 3600 * SEC));
        assert_eq!(at("0"), Some(NOW));
    }

    #[test]
    fn dates_and_times() {
        let day = 1_577_923_200 * SEC; // 2020-01-02T00:00:00Z
        assert_eq!(at("2020-01-02"), Some(day - 3600 * SEC), "local midnight");
        assert_eq!(at("2020-01-02Z"), Some(day));
        assert_eq!(at("2020-01-02+01:00"), Some(day - 3600 * SEC));
        assert_eq!(at("2020-01-02T15"), Some(day + 14 * 3600 * SEC));
        assert_eq!(at("2020-01-02T15:04"), Some(day + (14 * 3600 + 240) * SEC));
        let t = day + (15 * 3600 + 4 * 60 + 5) * SEC;
        assert_eq!(at("2020-01-02T15:04:05Z"), Some(t));
        assert_eq!(at("2020-01-02T15:04:05"), Some(t - 3600 * SEC));
        assert_eq!(at("2020-01-02T15:04:05.25Z"), Some(t + SEC / 4));
        assert_eq!(
            at("2020-01-02T15:04:05.123456789-02:00"),
            Some(t + 7200 * SEC + 123_456_789)
        );
        assert_eq!(at("2020-01-02T15:04:05.5"), Some(t - 3600 * SEC + SEC / 2));
        assert_eq!(at("2020-02-29"), Some(day + 58 * 86400 * SEC - 3600 * SEC));
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(at("1600000000"), Some(1_600_000_000 * SEC));
        assert_eq!(at("1600000000.5"), Some(1_600_000_000 * SEC + SEC / 2));
        assert_eq!(at("1577836800.000000001"), Some(1_577_836_800 * SEC + 1));
        assert_eq!(at("10"), Some(10 * SEC));
    }

    #[test]
    fn rejected() {
        for v in [
            "",
            "yesterday",
            "10x",
            "1h30",
            "h",
            "2020-13-01",
            "2020-02-30",
            "2021-02-29",
            "2020-01-02T25:00",
            "2020-01-02T15:04:05+0100",
            "2020-01-02T15:04.5",
            "-5",
            "1.2.3",
            "2020-01-02 15:04",
            "1e9",
            "--1h",
        ] {
            assert_eq!(at(v), None, "{v:?}");
        }
    }
}
