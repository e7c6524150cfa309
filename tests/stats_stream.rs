//! `rless stats`: streaming without names follows the running set (a
//! container started after the stream began shows up, one removed leaves);
//! `--format` takes Go templates (`.Container` as docker's: the name or
//! id given).

mod common;

use common::oci::busybox;
use common::{for_each_user, rless_bin, run_cmd, Ctx, CMD_TIMEOUT};
use std::fs;
use std::path::Path;

const IMG: &str = "bb";

fn setup(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else {
        common::skip("busybox-static is not installed");
        return false;
    };
    let dir = ctx.work.join("rootfs");
    for sub in ["bin", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(&dir, bb, &["sh", "sleep"]);
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// The container names in one line of `stats --format json` output.
fn names(line: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn stats_stream_follows_new_and_removed_containers() {
    for_each_user("stats_stream_follows_new_and_removed_containers", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["run", "-d", "--name", "s1", IMG, "sleep", "60"]);
        let out = ctx.work.join("stats.out");
        let rless = format!("{} --root {}", rless_bin().display(), ctx.root.display());
        // The stream runs 7 s; s2 starts after 2.5 s, s1 goes after 5 s.
        let script = format!(
            "{rless} stats --format json > {out} & S=$!; \
             sleep 2.5; {rless} run -d --name s2 {IMG} sleep 60 >/dev/null; \
             sleep 2.5; {rless} rm -f s1 >/dev/null; \
             sleep 2; kill $S; wait $S; exit 0",
            out = out.display()
        );
        let mut sh = ctx.command(Path::new("/bin/sh"));
        sh.arg("-c").arg(script);
        let r = run_cmd(sh, None, CMD_TIMEOUT, &ctx.user.name);
        assert!(r.success(), "{r}");
        let text = fs::read_to_string(&out).unwrap();
        let lines: Vec<Vec<String>> = text.lines().map(names).collect();
        assert!(lines.len() >= 4, "{text}");
        assert_eq!(lines[0], ["s1"], "{text}");
        assert!(
            lines.iter().any(|l| l == &["s1", "s2"]),
            "s2 never appeared: {text}"
        );
        assert_eq!(lines.last().unwrap(), &["s2"], "s1 did not leave: {text}");
        ctx.ok(&["rm", "-f", "s2"]);
    });
}

/// `stats --no-stream --format` takes docker's Go templates (with and
/// without `table`) over docker's fields, not only table and json.
#[test]
fn stats_templates() {
    for_each_user("stats_templates", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["run", "-d", "--name", "one", IMG, "sleep", "300"]);
        let out = ctx.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
            "one",
        ]);
        let f: Vec<&str> = out.stdout.trim_end().split('|').collect();
        assert_eq!(f.len(), 4, "{out}");
        assert_eq!(f[0], "one", "{out}");
        assert!(f[1].ends_with('%'), "{out}");
        assert!(f[2].contains(" / "), "{out}");
        assert!(f[3].parse::<u32>().is_ok_and(|n| n >= 1), "{out}");
        let out = ctx.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "table {{.Name}}\t{{.MemPerc}}",
        ]);
        let lines: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0], ["NAME", "MEM", "%"], "{out}");
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[1][0], "one", "{out}");
        let out = ctx.ok(&["stats", "--no-stream", "--format", "{{json .}}", "one"]);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
        let id = ctx.ok(&["inspect", "-f", "{{.Id}}", "one"]).stdout;
        assert_eq!(v["ID"].as_str().unwrap(), &id.trim()[..12], "{out}");
        // .Container: the name or id as given (docker's), else the short id.
        let container = |args: &[&str]| {
            let mut a = vec!["stats", "--no-stream", "--format", "{{.Container}}"];
            a.extend_from_slice(args);
            ctx.ok(&a).stdout
        };
        assert_eq!(container(&["one"]), "one\n");
        assert_eq!(container(&[&id[..7]]), format!("{}\n", &id[..7]));
        assert_eq!(container(&[]), format!("{}\n", &id[..12]));
        ctx.fail(&["stats", "--no-stream", "--format", "{{.Name", "one"]);
        ctx.ok(&["rm", "-f", "one"]);
    });
}
