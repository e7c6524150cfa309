//! `rless top CTR [OPTIONS]`: the processes in a container (host pids, as
//! docker shows them), found by their pid namespace.
//!
//! Without options rless lists them itself (UID PID PPID CMD). With options
//! it does what docker and podman do: podman's format descriptors (`pid`,
//! `user`, `args`…, comma or space separated) become `ps -e -o …`; anything
//! else goes to the host's `ps` as it is (`-eo pid,comm`, `aux`). Either
//! way the rows kept are those whose PID is one of the container's, so
//! `ps`'s output must have a PID column (docker's rule); for descriptors
//! rless adds one and takes it off again if it was not asked for.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container;
use rless::image::store::LockMode;
use std::collections::HashSet;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    latest: super::latest::Latest,
    /// The container (with --latest, the first of the options).
    #[arg(required_unless_present = "latest")]
    container: Option<String>,
    /// Options for ps (`-eo pid,comm`, `aux`), or podman's format
    /// descriptors (`pid,user,args`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    options: Vec<String>,
}

/// Podman's format descriptors and the `ps -o` keys they stand for.
const DESCRIPTORS: &[(&str, &str)] = &[
    ("args", "args"),
    ("comm", "comm"),
    ("etime", "etime"),
    ("group", "group"),
    ("hgroup", "group"),
    ("hpid", "pid"),
    ("huser", "user"),
    ("nice", "nice"),
    ("pcpu", "pcpu"),
    ("pgid", "pgid"),
    ("pid", "pid"),
    ("ppid", "ppid"),
    ("rgroup", "rgroup"),
    ("ruser", "ruser"),
    ("state", "stat"),
    ("stime", "stime"),
    ("time", "time"),
    ("tty", "tty"),
    ("user", "user"),
    ("vsz", "vsz"),
];

pub fn run(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    // With --latest every word is an option, as podman's.
    let name = match a.latest.latest {
        true => {
            a.options.splice(0..0, a.container.take());
            super::latest::latest_id(ctx)?
        }
        false => a.container.take().unwrap_or_default(),
    };
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &name)?;
    let state = container::read_state(&dir);
    let Some(init) = state.pid.filter(|_| state.running()) else {
        bail!("container {} is not running", c.name);
    };
    let pids = container_pids(init)?;
    show(&pids, &a.options)
}

/// Lists the processes `pids` as `top` does with `options` (`pod top`'s
/// too).
pub(super) fn show(pids: &[i32], options: &[String]) -> Result<ExitCode> {
    if options.is_empty() {
        return own_listing(pids);
    }
    let (args, drop_pid) = ps_args(options);
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("cannot run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for line in filter_rows(&text, pids, drop_pid)? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The container's processes ([`rless::runtime::share::container_pids`]).
fn container_pids(init: i32) -> Result<Vec<i32>> {
    std::fs::read_link(format!("/proc/{init}/ns/pid"))?;
    Ok(rless::runtime::share::container_pids(init))
}

/// `ps`'s arguments for `options`, and whether rless added the PID column
/// (to be taken off again).
fn ps_args(options: &[String]) -> (Vec<String>, bool) {
    let words: Vec<&str> = options
        .iter()
        .flat_map(|o| o.split([',', ' ']))
        .filter(|w| !w.is_empty())
        .collect();
    let keys: Option<Vec<&str>> = words
        .iter()
        .map(|w| DESCRIPTORS.iter().find(|(d, _)| d == w).map(|(_, k)| *k))
        .collect();
    match keys {
        Some(keys) if !keys.is_empty() => {
            let drop_pid = !keys.contains(&"pid");
            let mut cols = Vec::new();
            if drop_pid {
                cols.push("pid");
            }
            cols.extend(keys);
            (vec!["-e".into(), "-o".into(), cols.join(",")], drop_pid)
        }
        _ => (options.to_vec(), false),
    }
}

/// The header and the rows of `ps` output whose PID is in `pids`; without
/// the first column if `drop_pid`.
///
/// The PID of a row is found by the header's position: `ps` right-aligns
/// the number under its title, so it is the run of digits ending where
/// `PID` ends in the header. Splitting on blanks (docker's way) goes wrong
/// when a column before it holds spaces (`-o args,pid`); it is used only
/// for a row the position does not fit (a value wider than its column).
fn filter_rows(text: &str, pids: &[i32], drop_pid: bool) -> Result<Vec<String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        bail!("ps printed nothing");
    };
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps output has no PID column (add pid to the options)");
    };
    let pid_end = title_end(header, col);
    // The first column is right-aligned under its header: its width is
    // where the header's first name ends.
    let first_width = header.find("PID").map(|i| i + 3).unwrap_or(0);
    let cut = |l: &str| -> String {
        if drop_pid {
            l.get(first_width..)
                .unwrap_or("")
                .trim_start_matches(' ')
                .to_string()
        } else {
            l.to_string()
        }
    };
    let pids: HashSet<i32> = pids.iter().copied().collect();
    let mut out = vec![cut(header)];
    for l in lines {
        let pid = pid_at(l, pid_end)
            .or_else(|| l.split_whitespace().nth(col).and_then(|p| p.parse().ok()));
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push(cut(l));
        }
    }
    Ok(out)
}

/// Where (in characters) the `n`th blank-separated title of `header` ends.
fn title_end(header: &str, n: usize) -> usize {
    let chars: Vec<char> = header.chars().collect();
    let mut seen = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        if seen == n {
            break;
        }
        seen += 1;
    }
    i
}

/// The number in `line` whose last digit is just before character `end`,
/// with a blank (or the line's edge) on both sides of it.
fn pid_at(line: &str, end: usize) -> Option<i32> {
    let chars: Vec<char> = line.chars().collect();
    if end > chars.len() || chars.get(end).is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    let start = chars[..end]
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    if start == end || (start > 0 && !chars[start - 1].is_whitespace()) {
        return None;
    }
    chars[start..end].iter().collect::<String>().parse().ok()
}

/// rless's own listing: UID PID PPID CMD.
fn own_listing(pids: &[i32]) -> Result<ExitCode> {
    let mut rows = vec![["UID".to_string(), "PID".into(), "PPID".into(), "CMD".into()]];
    for &pid in pids {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1))
            .unwrap_or("?")
            .to_string();
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("Uid:")
                        .map(|u| u.split_whitespace().next().unwrap_or("?").to_string())
                })
            })
            .unwrap_or_default();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|p| !p.is_empty())
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        rows.push([uid, pid.to_string(), ppid, cmd]);
    }
    super::format::print_table(&rows);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn descriptors_or_ps_options() {
        assert_eq!(
            ps_args(&strings(&["pid,user,args"])),
            (strings(&["-e", "-o", "pid,user,args"]), false)
        );
        assert_eq!(
            ps_args(&strings(&["user", "comm"])),
            (strings(&["-e", "-o", "pid,user,comm"]), true)
        );
        assert_eq!(ps_args(&strings(&["aux"])), (strings(&["aux"]), false));
        assert_eq!(
            ps_args(&strings(&["-eo", "pid,comm"])),
            (strings(&["-eo", "pid,comm"]), false)
        );
    }

    #[test]
    fn rows_of_the_container() {
        let ps = "  PID USER     COMMAND\n    1 root     init\n   42 alice    sh -c x\n  420 bob      top\n";
        assert_eq!(
            filter_rows(ps, &[42, 420], false).unwrap(),
            vec![
                "  PID USER     COMMAND",
                "   42 alice    sh -c x",
                "  420 bob      top"
            ]
        );
        assert_eq!(
            filter_rows(ps, &[42], true).unwrap(),
            vec!["USER     COMMAND", "alice    sh -c x"]
        );
        assert!(filter_rows("USER COMMAND\nroot x\n", &[1], false).is_err());
        // A column with spaces before the PID (`-o args,pid`): the number
        // under the title, not the second word.
        let ps = "COMMAND                       PID\nsleep 1000                     42\nsh -c sleep 9; : 7            420\nx                            7\n";
        assert_eq!(
            filter_rows(ps, &[42, 420, 1000], false).unwrap(),
            vec![
                "COMMAND                       PID",
                "sleep 1000                     42",
                "sh -c sleep 9; : 7            420",
            ]
        );
    }
}
