//! `rless stats [-a] [--no-stream] [--format table|json|[table ]TEMPLATE] [CTR…]`:
//! CPU, memory, processes, network and block I/O of running containers
//! (with `-a`, stopped ones too, their usage zero as docker shows it).
//! A Go template sees docker's fields (`.ID`, `.Container`, `.Name`,
//! `.CPUPerc`, `.MemUsage`, `.MemPerc`, `.NetIO`, `.BlockIO`, `.PIDs`),
//! as its table shows them.
//!
//! The numbers come from the container's cgroup (cgroup v2, delegated) or,
//! without one (cgroup v1 and hybrid hosts, `--cgroups=disabled`), from
//! /proc summed over the processes in the container's pid namespace, the
//! way `top` finds them; `Source` in the JSON says which. CPU % is the
//! CPU time used between two readings over the wall time between them
//! (100% is one CPU, as in docker). Without names, every running container
//! is shown, and a stream follows containers as they start and stop.
//! Streaming redraws once a second until interrupted.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container::{self, ContainerConfig};
use rless::image::store::LockMode;
use rless::image::time::human_size;
use rless::runtime::cgroups::usage::{self, Usage};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Print one reading and exit.
    #[arg(long)]
    no_stream: bool,
    /// table, json, or a Go template such as '{{.Name}} {{.CPUPerc}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Show every container, stopped ones too (with zero usage), as
    /// docker and podman do.
    #[arg(short, long)]
    all: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    /// Containers (default: every running one).
    containers: Vec<String>,
    /// `pod stats`'s: only these containers (full id, and the short id of
    /// their pod), each row with its pod, in podman's pod columns.
    #[arg(skip)]
    pods: Option<HashMap<String, String>>,
}

impl Args {
    /// `pod stats`: the running containers among `members` (full id, and
    /// their pod's short id), followed as they start and stop.
    pub fn of_pods(no_stream: bool, format: String, members: HashMap<String, String>) -> Args {
        Args {
            no_stream,
            format,
            all: false,
            latest: Default::default(),
            containers: Vec::new(),
            pods: Some(members),
        }
    }
}

/// `pod stats`'s template fields and headers (podman's).
const POD_HEADERS: &[(&str, &str)] = &[
    ("Pod", "POD"),
    ("CID", "CID"),
    ("Name", "NAME"),
    ("CPU", "CPU %"),
    ("MemUsage", "MEM USAGE/ LIMIT"),
    ("Mem", "MEM %"),
    ("NetIO", "NET IO"),
    ("BlockIO", "BLOCK IO"),
    ("PIDS", "PIDS"),
];

/// `pod stats`'s default table, as a template.
const POD_TABLE: &str = "table {{.Pod}}\t{{.CID}}\t{{.Name}}\t{{.CPU}}\t{{.MemUsage}}\t{{.Mem}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}";

/// A JSON row as `pod stats` shows it (its JSON too, as podman's).
fn pod_row(r: &serde_json::Value, pod: &str) -> serde_json::Value {
    let t = template_row(r);
    serde_json::json!({
        "Pod": pod, "CID": t["ID"], "Name": t["Name"], "CPU": t["CPUPerc"],
        "MemUsage": t["MemUsage"], "Mem": t["MemPerc"], "NetIO": t["NetIO"],
        "BlockIO": t["BlockIO"], "PIDS": t["PIDs"],
    })
}

/// A container being watched.
struct Watched {
    config: ContainerConfig,
    /// The name or id as the command line gave it (docker's `.Container`);
    /// none when every running container is shown.
    given: Option<String>,
    /// None for a container that is not running (`-a`): zero usage.
    init: Option<i32>,
    init_start: Option<u64>,
    cgroup: Option<PathBuf>,
}

/// One container's reading.
struct Reading {
    at: Instant,
    usage: Usage,
    /// Where the numbers came from: `cgroup` or `proc`.
    source: &'static str,
    net: Option<(u64, u64)>,
}

fn read(w: &Watched) -> Option<Reading> {
    let Some(init) = w.init else {
        // docker's row for a stopped container: 0B / 0B and 0.00%.
        return Some(Reading {
            at: Instant::now(),
            usage: Usage {
                memory_limit: Some(0),
                ..Usage::default()
            },
            source: "none",
            net: None,
        });
    };
    if !container::process_alive(Some(init), w.init_start) {
        return None;
    }
    let from_cgroup = w.cgroup.as_ref().and_then(|d| usage::from_cgroup(d).ok());
    let (usage, source) = match from_cgroup {
        Some(u) => (u, "cgroup"),
        None => (usage::from_procs(&usage::namespace_pids(init)), "proc"),
    };
    Some(Reading {
        at: Instant::now(),
        usage,
        source,
        net: usage::net_io(init),
    })
}

fn row(w: &Watched, before: &Reading, now: &Reading, host_memory: u64) -> serde_json::Value {
    let wall = now.at.duration_since(before.at).as_micros().max(1) as f64;
    let cpu = now.usage.cpu_usec.saturating_sub(before.usage.cpu_usec) as f64 / wall * 100.0;
    let limit = now.usage.memory_limit.unwrap_or(host_memory);
    let mem_pct = if limit > 0 {
        now.usage.memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (rx, tx) = now.net.unwrap_or((0, 0));
    serde_json::json!({
        "ID": w.config.id.as_str(),
        "Name": w.config.name,
        // docker's: as given, else the short id.
        "Container": w.given.clone().unwrap_or_else(|| w.config.id.short().to_string()),
        "Source": now.source,
        "Cgroup": w.cgroup.as_ref().filter(|_| now.source == "cgroup"),
        "CPUPercent": (cpu * 100.0).round() / 100.0,
        "CPUTimeUsec": now.usage.cpu_usec,
        "MemUsage": now.usage.memory,
        "MemLimit": limit,
        "MemPercent": (mem_pct * 100.0).round() / 100.0,
        "PIDs": now.usage.pids,
        "PIDsLimit": now.usage.pids_limit,
        "NetInput": rx,
        "NetOutput": tx,
        "BlockInput": now.usage.block_read,
        "BlockOutput": now.usage.block_write,
    })
}

/// docker's binary sizes for memory (`1.5MiB`).
fn mib(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.2}{}", units[i])
    }
}

/// A template's columns and their headers, as docker names them.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// docker's default table, as a template.
const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// A JSON row as a template sees it: the table's texts.
fn template_row(r: &serde_json::Value) -> serde_json::Value {
    let cells = &table(std::slice::from_ref(r))[1];
    let id = cells[0].clone();
    serde_json::json!({
        "ID": id, "Container": r["Container"], "Name": cells[1], "CPUPerc": cells[2],
        "MemUsage": cells[3], "MemPerc": cells[4], "NetIO": cells[5],
        "BlockIO": cells[6], "PIDs": cells[7],
    })
}

fn table(rows: &[serde_json::Value]) -> Vec<[String; 8]> {
    let mut out = vec![[
        "CONTAINER ID".to_string(),
        "NAME".into(),
        "CPU %".into(),
        "MEM USAGE / LIMIT".into(),
        "MEM %".into(),
        "NET I/O".into(),
        "BLOCK I/O".into(),
        "PIDS".into(),
    ]];
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    for r in rows {
        out.push([
            r["ID"].as_str().unwrap_or("").chars().take(12).collect(),
            r["Name"].as_str().unwrap_or("").to_string(),
            format!("{:.2}%", r["CPUPercent"].as_f64().unwrap_or(0.0)),
            format!("{} / {}", mib(n(&r["MemUsage"])), mib(n(&r["MemLimit"]))),
            format!("{:.2}%", r["MemPercent"].as_f64().unwrap_or(0.0)),
            format!(
                "{} / {}",
                human_size(n(&r["NetInput"])),
                human_size(n(&r["NetOutput"]))
            ),
            format!(
                "{} / {}",
                human_size(n(&r["BlockInput"])),
                human_size(n(&r["BlockOutput"]))
            ),
            n(&r["PIDs"]).to_string(),
        ]);
    }
    out
}

/// The containers to watch: those named (each must be running unless
/// `all`), or every running one (every one with `all`).
fn watched(ctx: &Ctx, names: &[String], all: bool) -> Result<Vec<Watched>> {
    let store = ctx.store(LockMode::Shared)?;
    let mut out = Vec::new();
    let pick = |config: ContainerConfig, dir: PathBuf, given: Option<&String>| {
        let state = container::read_state(&dir);
        let init = state.pid.filter(|_| state.running());
        if init.is_none() && !all {
            return None;
        }
        Some(Watched {
            config,
            given: given.cloned(),
            init,
            init_start: state.init_start,
            cgroup: state.cgroup,
        })
    };
    if names.is_empty() {
        for c in container::list(&store) {
            let dir = container::containers_dir(&store).join(c.id.as_str());
            out.extend(pick(c, dir, None));
        }
        out.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    } else {
        for q in names {
            let (c, dir) = container::find(&store, q)?;
            match pick(c, dir, Some(q)) {
                Some(w) => out.push(w),
                None => bail!("container {q} is not running"),
            }
        }
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    if a.latest.latest {
        if a.all || !a.containers.is_empty() {
            return Err(super::latest::LatestError::AllLatestNames.into());
        }
        a.containers = vec![super::latest::latest_id(ctx)?];
    }
    let headers = match a.pods {
        Some(_) if a.format == "table" => {
            a.format = POD_TABLE.to_string();
            POD_HEADERS
        }
        Some(_) => POD_HEADERS,
        None => HEADERS,
    };
    let format = super::format::Format::parse(&a.format, DEFAULT_TABLE);
    if let super::format::Format::Template { template, .. } = format {
        // A bad template fails before any reading, as docker's.
        super::format::print_rows(template, false, headers, &[])?;
    }
    let in_pods = |l: Vec<Watched>| match &a.pods {
        Some(m) => l
            .into_iter()
            .filter(|w| m.contains_key(w.config.id.as_str()))
            .collect(),
        None => l,
    };
    let mut list = in_pods(watched(ctx, &a.containers, a.all)?);
    let host_memory = usage::host_memory();
    let readings = |list: &[Watched]| -> HashMap<String, Reading> {
        list.iter()
            .filter_map(|w| Some((w.config.id.as_str().to_string(), read(w)?)))
            .collect()
    };
    let mut before = readings(&list);
    let interval = if a.no_stream {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(1)
    };
    let table_like = matches!(format, super::format::Format::Template { table: true, .. });
    let clear = !a.no_stream && table_like && std::io::stdout().is_terminal();
    // Without names the stream follows the running set: containers started
    // later appear from their second reading on, stopped ones leave.
    let follow = a.containers.is_empty() && !a.no_stream;
    loop {
        std::thread::sleep(interval);
        if follow {
            if let Ok(l) = watched(ctx, &[], a.all) {
                list = in_pods(l);
            }
        }
        let now = readings(&list);
        let mut rows: Vec<serde_json::Value> = list
            .iter()
            .filter_map(|w| {
                let id = w.config.id.as_str();
                Some(row(w, before.get(id)?, now.get(id)?, host_memory))
            })
            .collect();
        if let Some(m) = &a.pods {
            rows = rows
                .iter()
                .map(|r| pod_row(r, m.get(r["ID"].as_str().unwrap_or("")).map_or("", |p| p)))
                .collect();
        }
        let mut out = std::io::stdout().lock();
        if clear {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        match format {
            super::format::Format::Json => {
                let text = if a.no_stream {
                    serde_json::to_string_pretty(&rows)?
                } else {
                    serde_json::to_string(&rows)?
                };
                let _ = writeln!(out, "{text}");
            }
            super::format::Format::Template { template, table: t } => {
                drop(out);
                if a.pods.is_some() {
                    super::format::print_rows(template, t, headers, &rows)?;
                } else if template == DEFAULT_TABLE && t {
                    super::format::print_table(&table(&rows));
                } else {
                    let rows: Vec<_> = rows.iter().map(template_row).collect();
                    super::format::print_rows(template, t, HEADERS, &rows)?;
                }
                out = std::io::stdout().lock();
            }
        }
        let _ = out.flush();
        if a.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        // Named containers that all stopped: nothing more to show.
        if !a.containers.is_empty() && !a.all && now.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        before = now;
    }
}
