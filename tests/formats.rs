//! `--format` Go templates, as docker's: fields, `table` headers and
//! columns, docker's functions and `{{json}}`, on `ps`, `images`,
//! `inspect` (containers and images), `network ls` and `volume ls`; and bad
//! templates (an unknown field, an action left open) as one error line with
//! nothing printed. Ports in `ps` and `inspect` are checked in network.rs.
//! Also `images` filters, `history`, `system df`, and the form of warnings:
//! `rless: warning: …`, escaped as errors are.
//!
//! The image is a busybox root filesystem imported by the test.

mod common;

use common::for_each_user;
use common::lifecycle_helpers::*;
use serde_json::Value;

#[test]
fn format_templates() {
    if !have_busybox() {
        return;
    }
    for_each_user("format_templates", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let labels = ctx.work.join("labels");
        std::fs::write(&labels, "# comment\nfrom=file\napp=overridden\n").unwrap();
        let web = run_sh(
            ctx,
            &[
                "--name",
                "web",
                "--restart",
                "on-failure:3",
                "--label-file",
                labels.to_str().unwrap(),
                "-l",
                "app=web",
                "--label",
                "tier",
            ],
            FOREVER,
        );
        let done = run_sh(ctx, &["--name", "done"], "exit 3");
        ctx.ok(&["wait", &done]);

        // ps: fields, one line per container.
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}}|{{.State}}|{{.ID}}"]);
        let mut lines: Vec<&str> = out.stdout.lines().collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                format!("done|exited|{}", &done[..12]),
                format!("web|running|{}", &web[..12])
            ],
            "{out}"
        );
        // A table template: the header is the fields' titles; `\t` as
        // typed separates columns; docker's functions.
        let out = ctx.ok(&["ps", "--format", r"table {{.Names}}\t{{upper .State}}"]);
        let rows: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows, [["NAMES", "STATE"], ["web", "RUNNING"]], "{out}");
        let out = ctx.ok(&["ps", "--format", "{{json .}}"]);
        let row: Value = serde_json::from_str(out.stdout.trim()).expect("{{json .}} is JSON");
        assert_eq!(row["Names"], "web", "{out}");

        // inspect: nested fields, docker's shapes, one line per object.
        let st = inspect(ctx, "web");
        let pid = state_of(&st)["Pid"].as_i64().unwrap();
        let out = ctx.ok(&["inspect", "-f", "{{.State.Pid}} {{.State.Running}}", "web"]);
        assert_eq!(out.stdout, format!("{pid} true\n"), "{out}");
        let policy =
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}";
        let out = ctx.ok(&["container", "inspect", "--format", policy, "web"]);
        assert_eq!(out.stdout, "on-failure:3\n", "{out}");
        let out = ctx.ok(&[
            "inspect",
            "--format",
            "{{.Name}} {{.State.ExitCode}}",
            "web",
            "done",
        ]);
        assert_eq!(out.stdout, "web 0\ndone 3\n", "{out}");
        // Labels: --label over --label-file; ps filters on them.
        let out = ctx.ok(&["inspect", "-f", "{{.Config.Labels}}", "web"]);
        assert_eq!(out.stdout, "map[app:web from:file tier:]\n", "{out}");
        let out = ctx.ok(&["inspect", "-f", r#"{{index .Config.Labels "app"}}"#, "web"]);
        assert_eq!(out.stdout, "web\n", "{out}");
        let out = ctx.ok(&["ps", "--format", "{{.Labels}}"]);
        assert_eq!(out.stdout, "app=web,from=file,tier=\n", "{out}");
        for (filter, want) in [
            ("label=app=web", vec![&web[..12]]),
            ("label=tier", vec![&web[..12]]),
            ("label=app=other", vec![]),
            ("label=nope", vec![]),
        ] {
            let out = ctx.ok(&["ps", "-a", "-q", "--filter", filter]);
            assert_eq!(
                out.stdout.lines().collect::<Vec<_>>(),
                want,
                "{filter}: {out}"
            );
        }
        // A filter alone lists running containers only, as docker (any
        // filter listed stopped ones too); status= and -a list all.
        assert_eq!(ctx.ok(&["ps", "-q", "--filter", "name=done"]).stdout, "");
        let out = ctx.ok(&["ps", "-aq", "--filter", "name=done"]);
        assert_eq!(out.stdout.trim(), &done[..12]);
        // Label filters must all hold (other keys given twice are either).
        let both = [
            "ps",
            "-aq",
            "--filter",
            "label=app=web",
            "--filter",
            "label=nope",
        ];
        assert_eq!(ctx.ok(&both).stdout, "", "every label filter must hold");
        let before = ctx.ok(&["ps", "-aq"]).stdout;
        for bad in [
            &["run", "--label", "=x", IMG, "true"][..],
            &["run", "--label-file", "/no/such/file", IMG, "true"],
        ] {
            ctx.fail(bad);
        }
        assert_eq!(
            ctx.ok(&["ps", "-aq"]).stdout,
            before,
            "a refused run made a container"
        );
        // docker's idiom for the address, on every network mode, and fields
        // scripts read.
        let t = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}|{{.HostConfig.Privileged}}|{{.State.OOMKilled}}|{{len .HostConfig.Binds}}";
        let out = ctx.ok(&["inspect", "-f", t, "web"]);
        assert_eq!(out.stdout, "10.0.2.100|false|false|0\n", "{out}");
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.Networks}}"]);
        let mut lines: Vec<&str> = out.stdout.lines().collect();
        lines.sort();
        assert_eq!(lines, ["done slirp", "web slirp"], "{out}");
        // Lists print as Go prints them, through print and printf too.
        let out = ctx.ok(&["inspect", "-f", "{{.Args}}", "done"]);
        assert_eq!(out.stdout, "[-c exit 3]\n", "{out}");
        let t =
            r#"{{print .Args}} {{printf "%v|%05d" .Args .State.ExitCode}} {{len .Config.Labels}}"#;
        let out = ctx.ok(&["inspect", "-f", t, "done"]);
        assert_eq!(out.stdout, "[-c exit 3] [-c exit 3]|00003 0\n", "{out}");
        let out = ctx.ok(&["inspect", "-f", "{{json .State}}", "web"]);
        let state: Value = serde_json::from_str(out.stdout.trim()).expect("json .State");
        assert_eq!(state["Running"], true, "{out}");

        // Images.
        let out = ctx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        assert_eq!(out.stdout, format!("localhost/{IMG}:latest\n"), "{out}");
        let out = ctx.ok(&["images", "--format", "table {{.Repository}}"]);
        assert_eq!(
            out.stdout,
            format!("REPOSITORY\nlocalhost/{IMG}\n"),
            "{out}"
        );
        let image_id = ctx.images_json()[0]["Id"].as_str().unwrap().to_string();
        let out = ctx.ok(&["image", "inspect", "-f", "{{.Id}}", IMG]);
        assert_eq!(out.stdout.trim(), image_id, "{out}");
        // Fields docker always has, on an image that sets none of them:
        // nil maps, which json prints null, as Go's (docker and podman).
        let t = "{{json .Config.Labels}} {{json .Config.Volumes}} [{{.Config.WorkingDir}}]";
        let out = ctx.ok(&["image", "inspect", "-f", t, IMG]);
        assert_eq!(out.stdout, "null null []\n", "{out}");
        // A container without labels: podman's nil map (null), which
        // prints map[] and has no length.
        let t = "{{json .Config.Labels}} {{.Config.Labels}} {{len .Config.Labels}}";
        let out = ctx.ok(&["inspect", "-f", t, "done"]);
        assert_eq!(out.stdout, "null map[] 0\n", "{out}");
        let out = ctx.ok(&["inspect", "done"]);
        let v: Value = serde_json::from_str(&out.stdout).expect("inspect's JSON");
        assert!(v[0]["Config"]["Labels"].is_null(), "{out}");

        // Networks and volumes.
        ctx.ok(&[
            "volume", "create", "--label", "b=2", "--label", "a=1", "fmtvol",
        ]);
        let out = ctx.ok(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}}",
        ]);
        assert_eq!(out.stdout, "fmtvol local a=1,b=2\n", "{out}");
        ctx.ok(&["network", "create", "fmtnet"]);
        let out = ctx.ok(&["network", "ls", "--format", "{{.Name}}"]);
        assert!(out.stdout.lines().any(|l| l == "fmtnet"), "{out}");

        // Bad templates: one error line, nothing on stdout. An action left
        // open used to make the template engine loop forever.
        let bad: [&[&str]; 13] = [
            // gtmpl looped forever on these, or panicked, or overflowed
            // its stack.
            &["ps", "--format", r#"{{ "\x" }}"#],
            &["inspect", "-f", r#"{{ "a\u12" }}"#, "web"],
            &["inspect", "-f", "{{ é }}", "web"],
            &[
                "inspect",
                "-f",
                r#"{{define "t"}}{{template "t" .}}{{end}}"#,
                "web",
            ],
            &["inspect", "-f", "{{range .Args}}x{{else}}y{{end}}", "web"],
            &["ps", "--format", "{{.Nope}}"],
            &["ps", "-a", "--format", "{{ .Names "],
            &["images", "--format", "{{.Nope}}"],
            &["inspect", "-f", "{{.State.Nope}}", "web"],
            &["inspect", "-f", r#"{{ printf "}}" "#, "web"],
            &["image", "inspect", "-f", "{{.Id", IMG],
            &["network", "ls", "--format", "{{if .Name}}"],
            &["volume", "ls", "--format", "{{ "],
        ];
        for args in bad {
            let out = ctx.fail(args);
            assert!(out.stdout.is_empty(), "{out}");
        }
        ctx.ok(&["network", "rm", "fmtnet"]);
        ctx.ok(&["volume", "rm", "fmtvol"]);
    });
}

#[test]
fn warnings_are_one_escaped_line() {
    if !have_busybox() {
        return;
    }
    for_each_user("warnings_are_one_escaped_line", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // An escape sequence and a right-to-left override in an option that
        // is only warned about (the override went out raw, in tracing's
        // ` WARN …` form).
        let opt = "label=x\u{1b}[2J\u{202e}y";
        let out = ctx.ok(&["run", "--rm", "--security-opt", opt, IMG, "true"]);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        assert!(
            lines[0].starts_with("rless: warning: --security-opt label=x")
                && lines[0].ends_with("y is not supported by rless and is ignored")
                && lines[0].contains(r"\u{202e}")
                && !lines[0].contains(['\u{1b}', '\u{202e}']),
            "{out}"
        );
    });
}

#[test]
fn images_filters_and_history() {
    if !have_busybox() {
        return;
    }
    for_each_user("images_filters_and_history", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["tag", IMG, "other:1"]);
        ctx.ok(&["tag", IMG, &format!("{IMG}:v2")]);
        let names = |args: &[&str]| -> Vec<String> {
            let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
            a.extend_from_slice(args);
            let mut v: Vec<String> = ctx.ok(&a).stdout.lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&[IMG]),
            [
                format!("localhost/{IMG}:latest"),
                format!("localhost/{IMG}:v2")
            ]
        );
        assert_eq!(
            names(&[&format!("{IMG}:v*")]),
            [format!("localhost/{IMG}:v2")]
        );
        assert_eq!(names(&["--filter", "reference=o*"]), ["localhost/other:1"]);
        assert_eq!(
            names(&["--filter", "reference=nothing*"]),
            Vec::<String>::new()
        );

        // A name taken by a newer import leaves the older image dangling.
        let dir = ctx.work.join("rootfs");
        for content in ["1", "2"] {
            std::fs::write(dir.join("extra"), content).unwrap();
            ctx.ok(&["import", dir.to_str().unwrap(), "tmp:1"]);
        }
        let ids = |args: &[&str]| -> Vec<String> {
            let mut a = vec!["images", "-q", "--no-trunc"];
            a.extend_from_slice(args);
            ctx.ok(&a).stdout.lines().map(String::from).collect()
        };
        let dangling = ids(&["--filter", "dangling=true"]);
        assert_eq!(dangling.len(), 1, "{dangling:?}");
        let named = ids(&["--filter", "dangling=false"]);
        assert_eq!(named.len(), 2, "{named:?}");
        assert!(!named.contains(&dangling[0]));
        // A reference filter never lists an unnamed image (it matched
        // `<none>`).
        let all_named = ids(&["--filter", "reference=*"]);
        assert!(!all_named.contains(&dangling[0]), "{all_named:?}");
        for bad in [
            &["images", "--filter", "bogus=1"][..],
            &["images", "--filter", "dangling=maybe"],
            &["images", "--filter", "before=no-such-image"],
            &["images", "--filter", "dangling"],
        ] {
            let out = ctx.fail(bad);
            assert!(out.stdout.is_empty(), "{out}");
        }

        // history: the import's one step, newest first, docker's columns.
        let out = ctx.ok(&["history", IMG]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let header: Vec<&str> = lines[0]
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            header,
            ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
            "{out}"
        );
        let short = &ctx.ok(&["images", "-q", IMG]).stdout;
        assert!(lines[1].starts_with(short.trim()), "{out}");
        assert!(lines[1].contains("rless import"), "{out}");
        let out = ctx.ok(&["image", "history", "-q", IMG]);
        assert_eq!(out.stdout, short.as_str(), "{out}");
        let out = ctx.ok(&["history", "--format", "{{.CreatedBy}}|{{.Size}}", IMG]);
        let (by, size) = out.stdout.trim().split_once('|').unwrap();
        assert_eq!(by, "rless import", "{out}");
        assert!(size.ends_with('B') && size != "0B", "{out}");
        let out = ctx.ok(&["history", "--human=false", "--format", "{{.Size}}", IMG]);
        assert!(
            out.stdout.trim().parse::<u64>().is_ok_and(|n| n > 0),
            "{out}"
        );
        ctx.fail_unchanged(&["history", "no-such-image"]);
    });
}

#[test]
fn system_df_counts_images_containers_and_volumes() {
    if !have_busybox() {
        return;
    }
    for_each_user("system_df", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = "head -c 1048576 /dev/zero > /big; head -c 2097152 /dev/zero > /data/v";
        let id = run_sh(ctx, &["--name", "writer", "-v", "dfvol:/data"], script);
        ctx.ok(&["wait", &id]);
        let df = |ctx: &common::Ctx| -> Vec<Value> {
            let out = ctx.ok(&["system", "df", "--format", "json"]);
            serde_json::from_str::<Value>(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {out}"))
                .as_array()
                .unwrap()
                .clone()
        };
        let rows = df(ctx);
        let (img, ctr, vol) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!(
            (&img["Total"], &img["Active"]),
            (&1.into(), &1.into()),
            "{img}"
        );
        assert!(img["Size"].as_u64().unwrap() > 0, "{img}");
        assert_eq!(img["Reclaimable"], 0, "{img}");
        assert_eq!(
            (&ctr["Total"], &ctr["Active"]),
            (&1.into(), &0.into()),
            "{ctr}"
        );
        let size = ctr["Size"].as_u64().unwrap();
        assert!((1 << 20..1 << 21).contains(&size), "{ctr}");
        assert_eq!(ctr["Reclaimable"].as_u64(), Some(size), "{ctr}");
        assert_eq!(
            (&vol["Total"], &vol["Active"]),
            (&1.into(), &1.into()),
            "{vol}"
        );
        assert!(vol["Size"].as_u64().unwrap() >= 2 << 20, "{vol}");
        assert_eq!(vol["Reclaimable"], 0, "{vol}");
        let table = ctx.ok(&["system", "df"]);
        assert!(table.stdout.starts_with("TYPE"), "{table}");
        let v = ctx.ok(&["version", "--format", "json"]);
        let v: Value = serde_json::from_str(&v.stdout).unwrap();
        assert_eq!(v["Client"]["Version"], env!("CARGO_PKG_VERSION"), "{v}");
        // The template scripts use with docker and podman.
        let v = ctx.ok(&["version", "--format", "{{.Client.Version}}"]);
        assert_eq!(v.stdout.trim(), env!("CARGO_PKG_VERSION"), "{v}");

        ctx.ok(&["rm", "writer"]);
        let rows = df(ctx);
        assert_eq!(rows[0]["Reclaimable"], rows[0]["Size"], "{rows:?}");
        assert_eq!(rows[1]["Total"], 0, "{rows:?}");
        assert_eq!(rows[2]["Active"], 0, "{rows:?}");
        assert_eq!(rows[2]["Reclaimable"], rows[2]["Size"], "{rows:?}");
    });
}

/// `images -f label=KEY[=VALUE]` as docker: the image config's labels,
/// every label filter must hold, with the other filters too.
#[test]
fn images_label_filter() {
    if !have_busybox() {
        return;
    }
    for_each_user("images_label_filter", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "base", IMG, "true"]);
        ctx.ok(&["commit", "-c", "LABEL tier=db keep=1", "base", "lab-db"]);
        ctx.ok(&["commit", "-c", "LABEL tier=web", "base", "lab-web"]);
        ctx.ok(&["rm", "base"]);
        let names = |args: &[&str]| -> Vec<String> {
            let mut a = vec!["images", "--format", "{{.Repository}}"];
            for f in args {
                a.extend(["--filter", f]);
            }
            let mut v: Vec<String> = ctx.ok(&a).stdout.lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&["label=tier"]),
            ["localhost/lab-db", "localhost/lab-web"]
        );
        assert_eq!(names(&["label=tier=web"]), ["localhost/lab-web"]);
        assert_eq!(names(&["label=tier", "label=keep"]), ["localhost/lab-db"]);
        assert_eq!(
            names(&["label=tier", "reference=lab-w*"]),
            ["localhost/lab-web"]
        );
        assert!(names(&["label=tier=none"]).is_empty());
        let out = ctx.ok(&["images", "-q", "--filter", "label=keep=1"]);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
    });
}

/// `ps -s` / `--size` and a template's `.Size`, as docker: the writable
/// layer's size and "(virtual …)" with the image; counted inside the user
/// namespace, so a directory of a subordinate id is read too.
#[test]
fn ps_size() {
    if !have_busybox() {
        return;
    }
    for_each_user("ps_size", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let script = match ctx.user.mode {
            // A directory only uid 1000 can read, holding 7 bytes more.
            common::Mode::Subuid => {
                "printf 12345 > /f && mkdir /d && printf 1234567 > /d/g && \
                 chown -R 1000:1000 /d && chmod 700 /d"
            }
            common::Mode::Single => "printf 12345 > /f && mkdir /d && printf 1234567 > /d/g",
        };
        ctx.ok(&["run", "--name", "c", IMG, "sh", "-c", script]);
        let image = ctx.ok(&["images", "--format", "{{.Size}}", IMG]).stdout;
        let want = |rw: &str| format!("c|{rw} (virtual {})", image.trim());
        let out = ctx.ok(&["ps", "-a", "-s", "--format", "{{.Names}}|{{.Size}}"]);
        assert_eq!(out.stdout.trim(), want("12B"), "{out}");
        // Without -s, as the template asks for it.
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Size}}"]);
        assert_eq!(out.stdout.trim(), want("12B"), "{out}");
        let out = ctx.ok(&["ps", "-a", "--size"]);
        let header = out.stdout.lines().next().unwrap_or_default();
        assert!(header.trim_end().ends_with("NAMES   SIZE"), "{out}");
        assert!(out.stdout.contains("12B (virtual"), "{out}");
        ctx.ok(&["rm", "c"]);
    });
}

/// `ps`'s IMAGE as docker's: the name the container was made from while
/// it still names the container's image, the image id once it does not.
#[test]
fn ps_image_after_its_name_moves() {
    if !have_busybox() {
        return;
    }
    for_each_user("ps_image_after_its_name_moves", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["tag", IMG, "mine:1"]);
        ctx.ok(&["create", "--name", "c", "mine:1", "true"]);
        let image = |extra: &[&str]| {
            let mut a = vec!["ps", "-a", "--format", "{{.Image}}"];
            a.extend_from_slice(extra);
            ctx.ok(&a).stdout.trim().to_string()
        };
        assert_eq!(image(&[]), "localhost/mine:1");
        ctx.ok(&["rmi", "mine:1"]);
        let id = ctx.ok(&["images", "-q", "--no-trunc", IMG]).stdout;
        let id = id.trim();
        assert_eq!(image(&[]), id.trim_start_matches("sha256:")[..12]);
        assert_eq!(image(&["--no-trunc"]), id);
        ctx.ok(&["rm", "c"]);
    });
}
