//! podman's secrets: the `secret` subcommands (create from a file, stdin or
//! a variable, ls, inspect, rm, exists, --replace, names) and `run
//! --secret` (a read-only file with its owner and mode, or a variable;
//! never in `inspect`'s Env, nor in `commit` or `export`; kept by the
//! container when the store's secret goes; refused on a -v/--mount/--tmpfs
//! destination). Uses volume_support's busybox
//! image, imported, so no registry is needed.

mod common;
mod volume_support;

use common::oci::busybox;
use common::out::run_cmd;
use common::{for_each_user, Ctx, Mode};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use volume_support::*;

fn inspect_one(ctx: &Ctx, args: &[&str]) -> serde_json::Value {
    let out = ctx.ok(args);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    v[0].clone()
}

/// The files below `dir` holding `needle` that another user could read,
/// were the store's root `root` itself open to them: a file readable by
/// others at the end of directories (below `root`) they may all search.
fn open_to_others(root: &Path, dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            out.extend(open_to_others(root, &p, needle));
        } else if m.is_file() && m.permissions().mode() & 0o004 != 0 {
            let searchable = p
                .ancestors()
                .skip(1)
                .take_while(|a| *a != root)
                .all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
            let holds = fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle));
            if searchable && holds {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn secret_store_commands() {
    for_each_user("secret_store_commands", |ctx| {
        // From a file, from standard input, from a variable.
        let f = ctx.write_file("pw.txt", b"from-file");
        let id = ctx.ok(&[
            "secret",
            "create",
            "--label",
            "a=b",
            "filed",
            f.to_str().unwrap(),
        ]);
        let id = id.stdout.trim().to_string();
        assert!(
            id.len() == 25 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "podman's ids: {id:?}"
        );
        let out = ctx.rless_stdin(&["secret", "create", "piped", "-"], b"from-stdin");
        assert!(out.success(), "{out}");
        let mut c = ctx.rless_cmd(&["secret", "create", "--env", "envd", "MY_PW"]);
        c.env("MY_PW", "from-env");
        let out = run_cmd(c, None, Duration::from_secs(60), &ctx.user.name);
        assert!(out.success(), "{out}");
        let out = ctx.fail(&["secret", "create", "--env", "unset", "NOT_SET_ANYWHERE"]);
        assert!(out.stderr.contains("NOT_SET_ANYWHERE"), "{out}");

        // The data is the user's alone.
        let data = ctx.root.join("secrets").join(&id).join("data");
        let mode = fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&data).unwrap(), b"from-file");

        // ls: table, template, filter, ids.
        let out = ctx.ok(&["secret", "ls"]);
        let header: Vec<&str> = out
            .stdout
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"],
            "{out}"
        );
        assert_eq!(out.stdout.lines().count(), 4, "{out}");
        let out = ctx.ok(&["secret", "ls", "--format", "{{.Name}} {{.Driver}}"]);
        assert_eq!(out.stdout, "envd file\nfiled file\npiped file\n");
        let out = ctx.ok(&[
            "secret",
            "ls",
            "--filter",
            "name=pipe",
            "--format",
            "{{.Name}}",
        ]);
        assert_eq!(out.stdout, "piped\n");
        let out = ctx.ok(&["secret", "ls", "-q", "--filter", "label=a=b"]);
        assert_eq!(out.stdout, format!("{id}\n"));

        // inspect: no data unless asked.
        let v = inspect_one(ctx, &["secret", "inspect", "filed"]);
        assert_eq!(v["ID"], id.as_str());
        assert_eq!(v["Spec"]["Name"], "filed");
        assert_eq!(v["Spec"]["Labels"]["a"], "b");
        assert!(v.get("SecretData").is_none(), "{v}");
        let v = inspect_one(ctx, &["secret", "inspect", "--showsecret", "envd"]);
        assert_eq!(v["SecretData"], "from-env");
        let out = ctx.ok(&["secret", "inspect", "--format", "{{.Spec.Name}}", &id[..8]]);
        assert_eq!(out.stdout, "filed\n");

        // A name is taken once, unless --replace (same id, new data).
        let out = ctx.fail(&["secret", "create", "filed", f.to_str().unwrap()]);
        assert!(out.stderr.contains("in use"), "{out}");
        let g = ctx.write_file("pw2.txt", b"replaced");
        let out = ctx.ok(&[
            "secret",
            "create",
            "--replace",
            "filed",
            g.to_str().unwrap(),
        ]);
        assert_eq!(out.stdout.trim(), id);
        assert_eq!(fs::read(&data).unwrap(), b"replaced");

        // podman's names; empty data is refused.
        for bad in [".x", "x-", "a/b", "a b", "a=b"] {
            let out = ctx.fail(&["secret", "create", bad, f.to_str().unwrap()]);
            assert!(out.stderr.contains("invalid secret name"), "{out}");
        }
        let empty = ctx.write_file("empty", b"");
        ctx.fail(&["secret", "create", "empty", empty.to_str().unwrap()]);

        // exists, rm, rm -i, rm -a.
        assert_eq!(ctx.rless(&["secret", "exists", "piped"]).code, Some(0));
        assert_eq!(ctx.rless(&["secret", "exists", "nosuch"]).code, Some(1));
        let out = ctx.ok(&["secret", "rm", "filed"]);
        assert_eq!(out.stdout.trim(), id);
        assert!(!ctx.root.join("secrets").join(&id).exists());
        let out = ctx.fail(&["secret", "rm", "filed"]);
        assert!(out.stderr.contains("no such secret"), "{out}");
        ctx.ok(&["secret", "rm", "-i", "filed"]);
        let out = ctx.ok(&["secret", "rm", "-a"]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        assert_eq!(ctx.ok(&["secret", "ls", "-q"]).stdout, "");
    });
}

#[test]
fn secret_in_a_container() {
    if busybox().is_none() {
        return;
    }
    for_each_user("secret_in_a_container", |ctx| {
        assert!(setup_image(ctx));
        let out = ctx.rless_stdin(&["secret", "create", "pw", "-"], b"s3cr3t-value");
        assert!(out.success(), "{out}");
        // The default: /run/secrets/NAME, root's, 0444, read-only.
        let out = sh(
            ctx,
            &["--secret", "pw"],
            "cat /run/secrets/pw; echo; stat -c '%u:%g %a' /run/secrets/pw; echo x > /run/secrets/pw || echo refused",
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["s3cr3t-value", "0:0 444"], "{out}");
        assert_eq!(lines.last(), Some(&"refused"), "{out}");
        // target relative to /run/secrets, or absolute; mode.
        let out = sh(
            ctx,
            &[
                "--secret",
                "pw,target=sub/x,mode=0400",
                "--secret",
                "pw,target=/etc/pw",
            ],
            "stat -c %a /run/secrets/sub/x; cat /etc/pw",
        );
        assert_eq!(out, "400\ns3cr3t-value", "{out}");
        // An owner: a mapped id (subuid mode); single-id mode maps only root.
        let owned = ["--secret", "pw,uid=1000,gid=1000"];
        if ctx.user.mode == Mode::Subuid {
            let out = sh(ctx, &owned, "stat -c '%u:%g' /run/secrets/pw");
            assert_eq!(out, "1000:1000\n");
        } else {
            let mut a = vec!["run", "--rm"];
            a.extend_from_slice(&owned);
            a.extend_from_slice(&[IMG, "true"]);
            let out = ctx.fail_unchanged(&a);
            assert!(out.stderr.contains("single-id"), "{out}");
        }
        // type=env: the variable, which inspect does not show.
        ctx.ok(&[
            "create",
            "--name",
            "c",
            "--secret",
            "pw,type=env,target=PASS",
            "--secret",
            "pw",
            IMG,
            "sh",
            "-c",
            "echo $PASS; cat /run/secrets/pw; echo; echo mine > /written",
        ]);
        let v = inspect_one(ctx, &["inspect", "c"]);
        assert!(!v.to_string().contains("s3cr3t"), "{v}");
        // No copy of it is open to other users, even were the store's
        // root open to them (a --root the user made is 0755).
        let open = open_to_others(&ctx.root, &ctx.root, b"s3cr3t");
        assert!(open.is_empty(), "readable by others: {open:?}");
        let secrets = &v["Config"]["Secrets"];
        assert_eq!(secrets.as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(secrets[0]["Name"], "pw");
        assert_eq!(secrets[0]["Mode"], 0o444);
        // The container keeps its copy when the store's secret goes (podman).
        ctx.ok(&["secret", "rm", "pw"]);
        let out = ctx.ok(&["start", "-a", "c"]);
        assert_eq!(out.stdout, "s3cr3t-value\ns3cr3t-value\n", "{out}");
        // Started, its copy has the container's mode (0444): still private.
        let open = open_to_others(&ctx.root, &ctx.root, b"s3cr3t");
        assert!(open.is_empty(), "readable by others once started: {open:?}");
        // Neither commit nor export carries it.
        ctx.ok(&["commit", "c", "committed"]);
        let out = ctx.ok(&[
            "run",
            "--rm",
            "committed",
            "sh",
            "-c",
            "cat /written; ls /run/secrets 2>&1; echo \"[$PASS]\"",
        ]);
        assert!(!out.stdout.contains("s3cr3t"), "{out}");
        assert!(
            out.stdout.starts_with("mine\n") && out.stdout.ends_with("[]\n"),
            "{out}"
        );
        let tar = ctx.work.join("c.tar");
        ctx.ok(&["export", "-o", tar.to_str().unwrap(), "c"]);
        let bytes = fs::read(&tar).unwrap();
        assert!(
            !bytes.windows(6).any(|w| w == b"s3cr3t"),
            "the secret is in the export"
        );
        // exec sees an env secret too; its own -e of the name wins.
        ctx.rless_stdin(&["secret", "create", "tok", "-"], b"t0ken");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "bg",
            "--secret",
            "tok,type=env,target=TOK",
            IMG,
            "sleep",
            "300",
        ]);
        let out = ctx.ok(&["exec", "bg", "sh", "-c", "echo $TOK"]);
        assert_eq!(out.stdout, "t0ken\n", "{out}");
        let out = ctx.ok(&["exec", "-e", "TOK=mine", "bg", "sh", "-c", "echo $TOK"]);
        assert_eq!(out.stdout, "mine\n", "{out}");
        ctx.ok(&["rm", "-f", "bg"]);
        // An unknown secret: refused before a container is made.
        let out = ctx.fail_unchanged(&["run", "--rm", "--secret", "nosuch", IMG, "true"]);
        assert!(out.stderr.contains("no such secret: nosuch"), "{out}");
        // A mount-type secret's target that a -v, --mount or --tmpfs also
        // names (spelt otherwise, too): refused, as a duplicate mount
        // point, before anything is made (a volume neither).
        for (secret, mount) in [
            ("tok", ["--tmpfs", "/run/secrets/tok"]),
            ("tok,target=/etc/tok", ["-v", "clashvol:/etc//tok/"]),
            (
                "tok,target=sub/t",
                ["--mount", "type=tmpfs,destination=/run/secrets/x/../sub/t"],
            ),
        ] {
            let out = ctx.fail_unchanged(&[
                "run", "--rm", "--secret", secret, mount[0], mount[1], IMG, "true",
            ]);
            assert!(out.stderr.contains("duplicate mount point"), "{out}");
        }
        // Its env form names no path, and a mount elsewhere is fine.
        let out = sh(
            ctx,
            &[
                "--secret",
                "tok,type=env,target=TOK",
                "--secret",
                "tok",
                "--tmpfs",
                "/run/secrets/other",
            ],
            "echo $TOK; cat /run/secrets/tok",
        );
        assert_eq!(out, "t0ken\nt0ken", "{out}");
        ctx.ok(&["rm", "c"]);
    });
}
