//! The local time zone's offset from UTC, for command-line times without a
//! zone (`logs --since 2020-01-02T15:04:05`), as Go's `time.Local` finds
//! it: `$TZ` (empty: UTC; `:PATH` or a zone name: a TZif file; else a
//! POSIX rule such as `EST5EDT,M3.2.0,M11.1.0`), or `/etc/localtime`.
//!
//! TZif files (RFC 8536, versions 1 to 4) are read without the C library:
//! the transitions give the offset, and after the last one the footer's
//! POSIX rule does (with its daylight-saving dates). Leap seconds are
//! ignored. Anything unreadable counts as UTC.

use super::time::days_from_civil;

/// Seconds east of UTC of the local zone at `utc` (seconds since the epoch).
pub fn local_offset(utc: i64) -> i64 {
    let tz = std::env::var("TZ").ok();
    let file = match tz.as_deref() {
        None => "/etc/localtime".to_string(),
        Some("") => return 0,
        Some(p) if p.starts_with(':') || p.starts_with('/') => p.trim_start_matches(':').into(),
        Some(name) => {
            let f = format!("/usr/share/zoneinfo/{name}");
            if name.contains("..") || !std::path::Path::new(&f).is_file() {
                return Posix::parse(name).map_or(0, |p| p.offset(utc));
            }
            f
        }
    };
    std::fs::read(file)
        .ok()
        .and_then(|d| offset_in_tzif(&d, utc))
        .unwrap_or(0)
}

/// The offset at `utc` from TZif data.
pub fn offset_in_tzif(data: &[u8], utc: i64) -> Option<i64> {
    let header = |d: &[u8]| -> Option<[usize; 6]> {
        if d.get(..4)? != b"TZif" {
            return None;
        }
        let mut c = [0; 6];
        for (i, n) in c.iter_mut().enumerate() {
            let b = d.get(20 + 4 * i..24 + 4 * i)?;
            *n = u32::from_be_bytes(b.try_into().ok()?) as usize;
        }
        Some(c)
    };
    // [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt]
    let c = header(data)?;
    let v1_len = 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
    let (d, c, tsize) = if data[4] >= b'2' {
        let d = data.get(v1_len..)?;
        (d, header(d)?, 8)
    } else {
        (data, c, 4)
    };
    let body = d.get(44..)?;
    let time = |i: usize| -> Option<i64> {
        let b = body.get(i * tsize..(i + 1) * tsize)?;
        Some(if tsize == 8 {
            i64::from_be_bytes(b.try_into().ok()?)
        } else {
            i64::from(i32::from_be_bytes(b.try_into().ok()?))
        })
    };
    let idx_at = c[3] * tsize;
    let types_at = idx_at + c[3];
    let utoff = |t: usize| -> Option<i64> {
        let b = body.get(types_at + 6 * t..types_at + 6 * t + 4)?;
        Some(i64::from(i32::from_be_bytes(b.try_into().ok()?)))
    };
    let mut last = None;
    for i in 0..c[3] {
        if time(i)? > utc {
            break;
        }
        last = Some(i);
    }
    match last {
        Some(i) if i + 1 < c[3] || tsize == 4 => utoff(usize::from(*body.get(idx_at + i)?)),
        // After the last transition the footer's rule applies (v2+).
        Some(i) => {
            let end = types_at + 6 * c[4] + c[5] + c[2] * (tsize + 4) + c[1] + c[0];
            let footer = body.get(end..).and_then(|f| {
                let f = std::str::from_utf8(f).ok()?;
                Posix::parse(f.trim_matches('\n'))
            });
            match footer {
                Some(p) => Some(p.offset(utc)),
                None => utoff(usize::from(*body.get(idx_at + i)?)),
            }
        }
        // Before the first transition: the first type.
        None => utoff(0),
    }
}

/// A POSIX TZ rule: standard offset, and daylight saving time if any.
#[derive(Debug, PartialEq)]
struct Posix {
    std: i64,
    dst: Option<Dst>,
}

#[derive(Debug, PartialEq)]
struct Dst {
    off: i64,
    start: (Day, i64),
    end: (Day, i64),
}

/// A rule's day: `Mm.w.d`, `Jn` (no Feb 29) or `n` (from 0).
#[derive(Debug, PartialEq)]
enum Day {
    Month(i64, i64, i64),
    Julian(i64),
    Zero(i64),
}

impl Posix {
    fn parse(s: &str) -> Option<Posix> {
        let mut r = s;
        name(&mut r)?;
        let std = -hms(&mut r)?;
        if r.is_empty() {
            return Some(Posix { std, dst: None });
        }
        name(&mut r)?;
        let off = if r.starts_with(',') || r.is_empty() {
            std + 3600
        } else {
            -hms(&mut r)?
        };
        // No rule: the US rule, as glibc assumes.
        let rule = r.strip_prefix(',').unwrap_or("M3.2.0,M11.1.0");
        let (a, b) = rule.split_once(',')?;
        Some(Posix {
            std,
            dst: Some(Dst {
                off,
                start: day_time(a)?,
                end: day_time(b)?,
            }),
        })
    }

    fn offset(&self, utc: i64) -> i64 {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        let year = super::time::year_of(utc + self.std);
        let start = day_start(year, &dst.start.0) + dst.start.1 - self.std;
        let end = day_start(year, &dst.end.0) + dst.end.1 - dst.off;
        let in_dst = if start < end {
            (start..end).contains(&utc)
        } else {
            !(end..start).contains(&utc)
        };
        if in_dst {
            dst.off
        } else {
            self.std
        }
    }
}

/// Skips a zone name (`CET` or `<+03>`).
fn name(r: &mut &str) -> Option<()> {
    let len = if let Some(q) = r.strip_prefix('<') {
        q.find('>')? + 2
    } else {
        r.find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(r.len())
    };
    if len < 3 {
        return None;
    }
    *r = &r[len..];
    Some(())
}

/// `[+-]h[:mm[:ss]]` in seconds.
fn hms(r: &mut &str) -> Option<i64> {
    let (sign, rest) = match r.as_bytes().first()? {
        b'-' => (-1, &r[1..]),
        b'+' => (1, &r[1..]),
        _ => (1, *r),
    };
    let len = rest
        .find(|c: char| !c.is_ascii_digit() && c != ':')
        .unwrap_or(rest.len());
    let mut secs = 0;
    for (i, part) in rest[..len].split(':').enumerate() {
        if i > 2 {
            return None;
        }
        secs += part.parse::<i64>().ok()? * [3600, 60, 1][i];
    }
    *r = &rest[len..];
    Some(sign * secs)
}

/// `DAY[/TIME]` (TIME 02:00 by default).
fn day_time(s: &str) -> Option<(Day, i64)> {
    let (day, time) = s.split_once('/').unwrap_or((s, "2"));
    let mut t = time;
    let time = hms(&mut t)?;
    let day = if let Some(m) = day.strip_prefix('M') {
        let v: Vec<i64> = m
            .split('.')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        match v[..] {
            [m, w, d] if (1..=12).contains(&m) && (1..=5).contains(&w) && (0..=6).contains(&d) => {
                Day::Month(m, w, d)
            }
            _ => return None,
        }
    } else if let Some(j) = day.strip_prefix('J') {
        Day::Julian(j.parse().ok()?)
    } else {
        Day::Zero(day.parse().ok()?)
    };
    Some((day, time))
}

/// Seconds since the epoch of the start of a rule's day in `year` (UTC).
fn day_start(year: i64, day: &Day) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    let leap = days_from_civil(year, 3, 1) - days_from_civil(year, 2, 28) == 2;
    let days = match *day {
        Day::Zero(n) => jan1 + n,
        Day::Julian(n) => jan1 + n - 1 + i64::from(leap && n >= 60),
        Day::Month(m, w, d) => {
            let first = days_from_civil(year, m, 1);
            let next = if m == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, m + 1, 1)
            };
            // 1970-01-01 was a Thursday (4).
            let mut day = first + (d - (first + 4)).rem_euclid(7) + (w - 1) * 7;
            while day >= next {
                day -= 7;
            }
            day
        }
    };
    days * 86400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_rules() {
        let berlin = Posix::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2024-03-31 01:00 UTC: summer time starts; 2024-10-27 01:00 UTC: ends.
        let t = |s| crate::image::time::parse_rfc3339(s).unwrap();
        assert_eq!(berlin.offset(t("2024-03-31T00:59:59Z")), 3600);
        assert_eq!(berlin.offset(t("2024-03-31T01:00:00Z")), 7200);
        assert_eq!(berlin.offset(t("2024-10-27T00:59:59Z")), 7200);
        assert_eq!(berlin.offset(t("2024-10-27T01:00:00Z")), 3600);
        let sydney = Posix::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset(t("2024-01-15T00:00:00Z")), 11 * 3600);
        assert_eq!(sydney.offset(t("2024-07-15T00:00:00Z")), 10 * 3600);
        let ny = Posix::parse("EST5EDT").unwrap();
        assert_eq!(ny.offset(t("2024-07-15T00:00:00Z")), -4 * 3600);
        assert_eq!(ny.offset(t("2024-12-15T00:00:00Z")), -5 * 3600);
        assert_eq!(Posix::parse("<+0530>-5:30").unwrap().offset(0), 19800);
        assert_eq!(Posix::parse("UTC0").unwrap().offset(0), 0);
        assert_eq!(Posix::parse("X1"), None);
    }

    #[test]
    fn tzif_files() {
        let t = |s| crate::image::time::parse_rfc3339(s).unwrap();
        let zone = |name: &str| std::fs::read(format!("/usr/share/zoneinfo/{name}")).ok();
        let Some(berlin) = zone("Europe/Berlin") else {
            eprintln!("SKIP tzif_files: no /usr/share/zoneinfo/Europe/Berlin");
            return;
        };
        assert_eq!(
            offset_in_tzif(&berlin, t("2020-01-02T12:00:00Z")),
            Some(3600)
        );
        assert_eq!(
            offset_in_tzif(&berlin, t("2020-07-02T12:00:00Z")),
            Some(7200)
        );
        // Past the transitions a file lists: the footer's rule.
        assert_eq!(
            offset_in_tzif(&berlin, t("2090-07-02T12:00:00Z")),
            Some(7200)
        );
        assert_eq!(
            offset_in_tzif(&berlin, t("2090-12-02T12:00:00Z")),
            Some(3600)
        );
        if let Some(utc) = zone("Etc/UTC") {
            assert_eq!(offset_in_tzif(&utc, 1_600_000_000), Some(0));
        }
        assert_eq!(offset_in_tzif(b"not a zone", 0), None);
    }
}
