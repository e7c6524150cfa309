//! podman's `run`/`create --uidmap/--gidmap CONTAINER_ID:FROM_ID:AMOUNT`,
//! rootless: FROM_ID counts in the user's namespace (0 is the user, 1 to N
//! the subordinate range), as podman 4.3's does.
//!
//! - the map inside is the one given (`/proc/self/uid_map`), `--uidmap`
//!   alone stands for the gid map too;
//! - the image's files keep the owners the image gives them, a file the
//!   container makes as its id N is stored as N in the upper layer (the
//!   default layout: the user for 0), and in a bind mount it belongs to the
//!   host id the map gives N;
//! - `exec`, a restart, a created container's start and `container clone`
//!   keep the map; inspect shows it (`HostConfig.IDMappings`, `UsernsMode`
//!   private);
//! - bad maps (malformed, overlapping, beyond the user's ids, without
//!   container id 0, with --userns, the overlay driver) are refused with one
//!   line and exit 125, and leave no container; a user without a
//!   subordinate range may map only 0:0:1, themselves.

mod common;

use common::checks::*;
use common::lifecycle_helpers::{container_dir, run_d};
use common::run_helpers::*;
use common::{for_each_user, Ctx, Mode, ERR_EXIT};
use std::os::unix::fs::MetadataExt;

/// A map in two pieces: container uid 1000 is the user (FROM 0), the
/// rest subordinate ids.
const SPLIT_MAP: [&str; 6] = [
    "--uidmap",
    "0:1:1000",
    "--uidmap",
    "1000:0:1",
    "--gidmap",
    "0:1:65536",
];

/// `/proc/self/uid_map`-style text as (inside, outside, count) lines.
fn map_lines(text: &str) -> Vec<Vec<u32>> {
    text.lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect()
}

/// The host id the user's namespace gives its id `n` (0: the user).
fn host_of(ctx: &Ctx, n: u32) -> u32 {
    ctx.user.host_uid(n)
}

/// IMG with /home/alice owned by 1000:1000 (a non-root owner of the
/// image's), as `owned`.
fn owned_image(ctx: &Ctx) {
    ctx.ok(&[
        "run",
        "--name",
        "prep",
        IMG,
        "busybox",
        "chown",
        "1000:1000",
        "/home/alice",
    ]);
    ctx.ok(&["commit", "prep", "owned"]);
    ctx.ok(&["rm", "prep"]);
}

#[test]
fn run_idmap_map_and_owners() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_idmap_map_and_owners", |ctx| {
        if ctx.user.mode != Mode::Subuid {
            return;
        }
        assert!(setup_image(ctx));
        owned_image(ctx);
        let bind = ctx.work.join("bind");
        std::fs::create_dir(&bind).unwrap();
        ctx.give(&bind);
        // Writable for the container's root, which is not the user.
        std::fs::set_permissions(&bind, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let vol = format!("{}:/b", bind.display());
        let script = "cat /proc/self/uid_map; echo -; cat /proc/self/gid_map; echo -; \
                      stat -c '%u:%g' /etc/passwd /home/alice; \
                      touch /made /b/root-made; mkdir /b/five; busybox chown 5:7 /b/five; \
                      stat -c '%u:%g' /made; id -u";
        let id = run_d(
            ctx,
            &[
                "--uidmap",
                "0:1:65536",
                "-v",
                &vol,
                "owned",
                "sh",
                "-c",
                script,
            ],
        );
        assert_eq!(ctx.ok(&["wait", &id]).stdout.trim(), "0");
        let out = ctx.ok(&["logs", &id]).stdout;
        let parts: Vec<&str> = out.split("-\n").collect();
        assert_eq!(parts.len(), 3, "{out}");
        assert_eq!(
            map_lines(parts[0]),
            vec![vec![0, 1, 65536]],
            "uid map: {out}"
        );
        assert_eq!(
            map_lines(parts[1]),
            vec![vec![0, 1, 65536]],
            "gid map: {out}"
        );
        assert_eq!(
            parts[2], "0:0\n1000:1000\n0:0\n0\n",
            "image owners, a new file's owner, the root inside: {out}"
        );
        // Host side: the bind mount's files belong to the map's host ids,
        // the upper layer keeps the default layout (container 0: the user).
        let meta = |p: &std::path::Path| std::fs::metadata(p).unwrap();
        let m = meta(&bind.join("root-made"));
        assert_eq!((m.uid(), m.gid()), (host_of(ctx, 1), ctx.user.host_gid(1)));
        let m = meta(&bind.join("five"));
        assert_eq!((m.uid(), m.gid()), (host_of(ctx, 6), ctx.user.host_gid(8)));
        let m = meta(&ctx.root.join("containers").join(&id).join("upper/made"));
        assert_eq!(
            (m.uid(), m.gid()),
            (ctx.user.uid, ctx.user.gid),
            "upper layer"
        );
        ctx.ok(&["rm", &id]);

        // FROM 0 is the user: container uid 1000 is them here.
        let out = sh_in(
            ctx,
            &SPLIT_MAP,
            "owned",
            "cat /proc/self/uid_map; stat -c '%u' /home/alice /etc/passwd",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            map_lines(&lines[..2].join("\n")),
            vec![vec![0, 1, 1000], vec![1000, 0, 1]],
            "{out}"
        );
        assert_eq!(
            &lines[2..],
            ["1000", "0"],
            "image owners under the map: {out}"
        );
        // A new volume is given to the container's root, which fills it
        // with the image's files and writes to it.
        let out = sh_in(
            ctx,
            &["--uidmap", "0:1:65536", "-v", "vol:/etc"],
            "owned",
            "touch /etc/made; stat -c '%u:%g' /etc /etc/passwd /etc/made",
        );
        assert_eq!(out, "0:0\n0:0\n0:0\n", "{out}");
        let data = ctx.root.join("volumes/vol/_data");
        for f in ["", "passwd", "made"] {
            let m = meta(&data.join(f));
            assert_eq!(
                (m.uid(), m.gid()),
                (host_of(ctx, 1), ctx.user.host_gid(1)),
                "{f}"
            );
        }
        ctx.ok(&["volume", "rm", "vol"]);
        // A copy into a created container leaves its new volume to its
        // start (filled there, it kept the user's ids: nobody's inside).
        let script = "stat -c '%u:%g' /etc /etc/passwd; touch /etc/made";
        let id = created(
            ctx,
            &[
                "--uidmap",
                "0:1:65536",
                "-v",
                "vol:/etc",
                IMG,
                "sh",
                "-c",
                script,
            ],
        );
        let file = ctx.write_file("copied", b"copied\n");
        ctx.ok(&["cp", file.to_str().unwrap(), &format!("{id}:/copied")]);
        let out = ctx.ok(&["start", "-a", &id]);
        assert_eq!(out.stdout, "0:0\n0:0\n", "{out}");
        ctx.ok(&["rm", "-v", &id]);
        // The generated /etc files are the container's root's to edit, as
        // podman's (they were nobody's: the user's, unmapped).
        let out = sh_in(
            ctx,
            &["--uidmap", "0:1:65536"],
            IMG,
            "stat -c '%u:%g' /etc/hosts /etc/hostname /etc/resolv.conf; \
             echo '10.1.2.3 added' >> /etc/hosts && grep -c added /etc/hosts",
        );
        assert_eq!(out, "0:0\n0:0\n0:0\n1\n", "{out}");
        // A secret's copy gets the ids it asks for, the container's own.
        let out = ctx.rless_stdin(&["secret", "create", "sec", "-"], b"s3cret\n");
        assert!(out.success(), "{out}");
        let out = sh_in(
            ctx,
            &[
                "--uidmap",
                "0:1:65536",
                "--secret",
                "sec,uid=5,gid=6,mode=0400",
            ],
            IMG,
            "stat -c '%u:%g %a' /run/secrets/sec; cat /run/secrets/sec",
        );
        assert_eq!(out, "5:6 400\ns3cret\n", "{out}");
        // --gidmap alone stands for the uid map too, as podman's.
        let out = sh_in(
            ctx,
            &["--gidmap", "0:1:5000"],
            IMG,
            "cat /proc/self/uid_map",
        );
        assert_eq!(map_lines(&out), vec![vec![0, 1, 5000]], "{out}");
        // -u 1000: the file is the user's own on the host.
        let mut a = vec!["run", "--rm", "-u", "1000:0"];
        a.extend(SPLIT_MAP);
        a.extend(["-v", &vol, "owned", "touch", "/b/by-1000"]);
        let out = ctx.ok(&a);
        assert_eq!(out.stdout, "", "{out}");
        assert_eq!(meta(&bind.join("by-1000")).uid(), ctx.user.uid);
        assert_no_containers(ctx, "run --rm --uidmap");
        // A bind source only the user may reach: said so, nothing left.
        let private = ctx.work.join("private");
        std::fs::create_dir_all(private.join("d")).unwrap();
        ctx.give_tree(&private);
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let v = format!("{}:/d", private.join("d").display());
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--uidmap",
            "0:1:65536",
            "-v",
            &v,
            IMG,
            "true",
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("searchable by others"), "{out}");
        assert_no_containers(ctx, "a refused bind source");
    });
}

/// `rless run --rm OPTS IMAGE sh -c SCRIPT`'s stdout (it must succeed).
fn sh_in(ctx: &Ctx, opts: &[&str], image: &str, script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[image, "sh", "-c", script]);
    ctx.ok(&a).stdout
}

/// `rless create ARGS…`'s id (it must succeed).
fn created(ctx: &Ctx, args: &[&str]) -> String {
    let mut a = vec!["create"];
    a.extend_from_slice(args);
    ctx.ok(&a).stdout.trim().to_string()
}

/// The whole range for a user with one, else the user alone.
fn map_of(ctx: &Ctx) -> &'static str {
    match ctx.user.mode {
        Mode::Subuid => "0:1:65536",
        Mode::Single => "0:0:1",
    }
}

#[test]
fn run_idmap_kept_and_shown() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_idmap_kept_and_shown", |ctx| {
        assert!(setup_image(ctx));
        let map = map_of(ctx);
        let want = map.replace(':', " ");
        let show = "cat /proc/self/uid_map";
        let id = created(ctx, &["--uidmap", map, IMG, "sh", "-c", show]);
        // A created container's start, twice.
        for _ in 0..2 {
            let out = ctx.ok(&["start", "-a", &id]).stdout;
            assert_eq!(out.split_whitespace().collect::<Vec<_>>().join(" "), want);
        }
        let f = "{{json .HostConfig.IDMappings}} {{.HostConfig.UsernsMode}}";
        let shown = format!("{{\"GidMap\":[\"{map}\"],\"UidMap\":[\"{map}\"]}} private");
        assert_eq!(inspect_f(ctx, f, &id), shown);
        // The clone is made as the original was.
        let clone = ctx
            .ok(&["container", "clone", &id])
            .stdout
            .trim()
            .to_string();
        assert_eq!(inspect_f(ctx, f, &clone), shown, "the clone's map");
        let out = ctx.ok(&["start", "-a", &clone]).stdout;
        assert_eq!(out.split_whitespace().collect::<Vec<_>>().join(" "), want);
        ctx.ok(&["rm", &id, &clone]);
        // A default container shows none.
        let plain = created(ctx, &[IMG, "true"]);
        assert_eq!(inspect_f(ctx, f, &plain), "null");
        ctx.ok(&["rm", &plain]);

        // exec joins the container's namespace, and a restart keeps it.
        let id = run_d(ctx, &["--uidmap", map, IMG, "sleep", "1000"]);
        // cp's agent joins it too, as its root.
        let file = ctx.write_file("in", b"in\n");
        ctx.ok(&["cp", file.to_str().unwrap(), &format!("{id}:/in")]);
        let out = ctx.ok(&["exec", &id, "stat", "-c", "%u:%g", "/in"]);
        assert_eq!(out.stdout, "0:0\n", "{out}");
        let back = ctx.work.join("back");
        ctx.ok(&["cp", &format!("{id}:/etc/passwd"), back.to_str().unwrap()]);
        assert!(std::fs::read_to_string(&back).unwrap().starts_with("root:"));
        for _ in 0..2 {
            let out = ctx.ok(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
            let words: Vec<&str> = out.stdout.split_whitespace().collect();
            assert_eq!(words.join(" "), format!("0 {want}"), "{out}");
            ctx.ok(&["restart", "-t", "0", &id]);
        }
        ctx.ok(&["rm", "-f", &id]);
        assert_no_containers(ctx, "rm -f");
    });
}

#[test]
fn run_idmap_refusals() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_idmap_refusals", |ctx| {
        assert!(setup_image(ctx));
        let mut cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["--uidmap", "0:1"], "invalid --uidmap \"0:1\""),
            (vec!["--uidmap", "a:b:c"], "invalid --uidmap"),
            (vec!["--uidmap", "-1:1:1"], "invalid --uidmap"),
            (vec!["--uidmap", "0:0:0"], "AMOUNT at least 1"),
            (vec!["--gidmap", "0:0:1:1"], "invalid --gidmap"),
            (vec!["--uidmap", "1:0:1"], "container id 0 must be mapped"),
            (
                vec!["--uidmap", "0:0:1", "--userns", "keep-id"],
                "mutually exclusive",
            ),
            (vec!["--subuidname", "x"], "--subuidname is not supported"),
            (
                vec!["--uidmap", "0:0:1", "--storage-driver", "overlay"],
                "fuse-overlay",
            ),
        ];
        match ctx.user.mode {
            Mode::Subuid => cases.extend([
                (vec!["--uidmap", "0:1:65537"], "are not yours"),
                (
                    vec!["--uidmap", "0:0:2", "--uidmap", "5:1:1"],
                    "map the same ids",
                ),
                (vec!["--uidmap", "0:0:10", "--uidmap", "5:20:1"], "overlap"),
            ]),
            Mode::Single => cases.push((vec!["--uidmap", "0:1:1"], "subordinate id range")),
        }
        for (opts, words) in cases {
            for verb in ["run", "create"] {
                let mut a = vec![verb, "--rm"];
                if verb == "create" {
                    a.pop();
                }
                a.extend_from_slice(&opts);
                a.extend_from_slice(&[IMG, "true"]);
                let out = ctx.rless(&a);
                assert_one_error(&out, ERR_EXIT);
                assert!(out.stderr.contains(words), "{opts:?}: {out}");
                assert_no_containers(ctx, &out.cmdline);
            }
        }
        // A failed set-up names the store's paths, not the descriptors
        // the init reaches them through.
        let id = created(ctx, &["--uidmap", map_of(ctx), IMG, "true"]);
        let merged = container_dir(ctx, &id).join("merged");
        std::fs::remove_dir(&merged).unwrap();
        let out = ctx.rless(&["start", &id]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains(merged.to_str().unwrap()) && !out.stderr.contains("/proc/self/fd"),
            "{out}"
        );
        ctx.ok(&["rm", &id]);
        // A user the map leaves out: the error says the map is why.
        let out = ctx.rless(&["run", "--rm", "--uidmap", "0:0:1", "-u", "5", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("with --uidmap"), "{out}");
        assert_no_containers(ctx, "-u outside the map");
        // Another container's namespaces belong to another user namespace.
        let id = ctx.ok(&["run", "-d", IMG, "sleep", "1000"]).stdout;
        let net = format!("container:{}", id.trim());
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--uidmap",
            "0:0:1",
            "--network",
            &net,
            IMG,
            "true",
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("namespaces"), "{out}");
        ctx.ok(&["rm", "-f", id.trim()]);
        assert_no_containers(ctx, "--network container: refused");
    });
}
