//! `run`/`create` options that docker and podman scripts carry:
//!
//! - `--sysctl NAME=VALUE`: settings of the container's own network, IPC
//!   and UTS namespaces are set before the command runs and leave the host
//!   alone; anything else is refused with one line and exit 125 before a
//!   container exists.
//! - podman's `--replace`: a container with the same name is removed
//!   first, running or not, once the new one's options have been checked.
//! - `generate systemd --new`: the unit's command line makes the container
//!   anew as it was created.
//! - `--log-driver` and `--log-opt max-size|max-file`.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::checks::*;
use common::for_each_user;
use common::run_helpers::*;

#[test]
fn run_sysctl() {
    if !have_busybox() {
        return;
    }
    let host_port_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    for_each_user("run_sysctl", |ctx| {
        assert!(setup_image(ctx));
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--sysctl",
                "net.ipv4.ip_unprivileged_port_start=80",
                "--sysctl",
                "kernel.shmmax=1000000",
                "--sysctl",
                "net/ipv4/ping_group_range=0 0",
                "--domainname",
                "example.org",
                IMG,
                "sh",
                "-c",
                "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmax \
                 /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/domainname",
            ],
        );
        assert_eq!(out.stdout, "80\n1000000\n0\t0\nexample.org\n", "{out}");
        // The host's own values are untouched.
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap(),
            host_port_start
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
            host_shmmax
        );

        // Kept for `start`, and shown by inspect as docker does.
        ctx.ok(&[
            "create",
            "--name",
            "s1",
            "--network",
            "none",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=81",
            IMG,
            "cat",
            "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ]);
        let out = ctx.ok(&[
            "inspect",
            "--format",
            "{{json .HostConfig.Sysctls}} {{json .Config.Domainname}}",
            "s1",
        ]);
        assert_eq!(
            out.stdout.trim(),
            r#"{"net.ipv4.ip_unprivileged_port_start":"81"} """#
        );
        assert_eq!(ctx.ok(&["start", "-a", "s1"]).stdout, "81\n");
        ctx.ok(&["rm", "s1"]);

        // Refused before anything is made: not namespaced, a namespace
        // shared with the host, no NAME=VALUE.
        for (opts, says) in [
            (
                &["--sysctl", "vm.swappiness=1"][..],
                "sysctl \"vm.swappiness\" is not allowed",
            ),
            (
                &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
                "shares the network namespace (host)",
            ),
            (
                &["--ipc", "host", "--sysctl", "kernel.shmmax=1"][..],
                "shares the IPC namespace (host)",
            ),
            (
                &["--sysctl", "net.ipv4.ip_forward"][..],
                "expected NAME=VALUE",
            ),
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(opts);
            args.extend_from_slice(&[IMG, "true"]);
            let out = ctx.rless(&args);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains(says), "{says}: {out}");
            assert_no_containers(ctx, "a refused --sysctl");
        }
        // The kernel refuses: the start fails naming the setting, and the
        // container goes with --rm.
        for (sysctl, says) in [
            (
                "net.core.rmem_max=1",
                "cannot set sysctl net.core.rmem_max: Permission denied",
            ),
            (
                "net.nope.x=1",
                "cannot set sysctl net.nope.x: no such setting in this kernel",
            ),
        ] {
            let out = ctx.rless(&["run", "--rm", "--sysctl", sysctl, IMG, "true"]);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains(says), "{says}: {out}");
            assert_no_containers(ctx, "a sysctl the kernel refused");
        }
    });
}

#[test]
fn run_replace() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_replace", |ctx| {
        assert!(setup_image(ctx));
        let out = ctx.ok(&["run", "-d", "--name", "c1", IMG, "sleep", "4321"]);
        let old = out.last_line();
        // Refused options leave the old container running.
        let out = ctx.rless(&[
            "run",
            "--replace",
            "--name",
            "c1",
            "--sysctl",
            "vm.x=1",
            IMG,
            "true",
        ]);
        assert_one_error(&out, 125);
        let out = ctx.ok(&["inspect", "--format", "{{.Id}} {{.State.Status}}", "c1"]);
        assert_eq!(out.stdout.trim(), format!("{old} running"));
        // Without --name there is nothing to replace.
        let out = ctx.rless(&["run", "--rm", "--replace", IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("without --name"), "{out}");

        let out = run_ok(ctx, &["--replace", "--name", "c1", IMG, "echo", "new"]);
        assert_eq!(out.stdout, "new\n");
        let out = ctx.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        assert!(
            lines[0].ends_with(" c1") && !lines[0].starts_with(old),
            "{out}"
        );
        // The old one's processes are gone with it.
        let gone = eventually(std::time::Duration::from_secs(10), || {
            !host_processes().iter().any(|p| {
                p.uid == ctx.user.uid
                    && p.args.len() == 2
                    && p.args[0] == "sleep"
                    && p.args[1] == "4321"
            })
        });
        assert!(gone, "the replaced container's command still runs");
        // create --replace of a stopped one.
        ctx.ok(&["create", "--replace", "--name", "c1", IMG, "echo", "newer"]);
        assert_eq!(ctx.ok(&["start", "-a", "c1"]).stdout, "newer\n");
        ctx.ok(&["rm", "c1"]);
        assert_no_containers(ctx, "run_replace");
    });
}

/// The words of a systemd `Exec*=` line (double quotes with `\` escapes,
/// `$$` and `%%` for `$` and `%`), as systemd would run them.
fn unit_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut w = String::new();
        let quoted = c == '"';
        if quoted {
            chars.next();
        }
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted => break,
                ' ' if !quoted => break,
                '\\' if quoted => match chars.next() {
                    Some('n') => w.push('\n'),
                    Some(e) => w.push(e),
                    None => {}
                },
                '$' | '%' if chars.peek() == Some(&c) => {
                    chars.next();
                    w.push(c);
                }
                c => w.push(c),
            }
        }
        words.push(w);
    }
    words
}

#[test]
fn generate_systemd_new() {
    if !have_busybox() {
        return;
    }
    for_each_user("generate_systemd_new", |ctx| {
        assert!(setup_image(ctx));
        let odd = r#"hello $HOME "quoted" 100% \back"#;
        let out = ctx.ok(&[
            "create",
            "-dit",
            "--name",
            "web",
            "--rm",
            "-e",
            &format!("G={odd}"),
            "-w",
            "/tmp",
            IMG,
            "sh",
            "-c",
            "echo \"$G\"; pwd",
        ]);
        let old = out.last_line().to_string();
        let unit = ctx.ok(&["generate", "systemd", "--new", "web"]).stdout;
        assert!(unit.contains("container-web.service"), "{unit}");
        let start = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("an ExecStart line");
        let words = unit_words(start);
        assert_eq!(words[0], common::rless_bin().to_str().unwrap(), "{start}");
        let stop = unit
            .lines()
            .find_map(|l| l.strip_prefix("ExecStop="))
            .unwrap();
        assert!(stop.ends_with("stop -t 10 web"), "{stop}");
        // What the service runs: the container made anew, in the
        // foreground (-d dropped), with the options as given.
        let strs: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let mut c = ctx.command(common::rless_bin());
        c.args(&strs);
        let out = common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout.replace("\r\n", "\n"),
            format!("{odd}\n/tmp\n"),
            "{out}"
        );
        // The old container was replaced, and the new one went (--rm).
        let out = ctx.rless(&["inspect", &old]);
        assert_eq!(out.code, Some(125), "{out}");
        assert_no_containers(ctx, "after the --new unit's run");
        // A container from before command lines were recorded cannot.
        ctx.ok(&["create", "--name", "plain", IMG, "true"]);
        let cfg = ctx.root.join("containers");
        let dir = std::fs::read_dir(&cfg)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("config.json").exists())
            .unwrap();
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut().unwrap().remove("create_command");
        std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
        let out = ctx.rless(&["generate", "systemd", "--new", "plain"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("no recorded command line"), "{out}");
        ctx.ok(&["rm", "plain"]);
    });
}

#[test]
fn run_log_driver_and_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_log_driver_and_options", |ctx| {
        assert!(setup_image(ctx));
        // max-size and max-file: three files of 4 KiB at most, the
        // newest lines kept, in order, none twice.
        let id = ctx
            .ok(&[
                "run",
                "-d",
                "--name",
                "l1",
                "--log-opt",
                "max-size=4k",
                "--log-opt",
                "max-file=3",
                IMG,
                "busybox",
                "seq",
                "1",
                "3000",
            ])
            .last_line()
            .to_string();
        ctx.ok(&["wait", "l1"]);
        let dir = ctx.root.join("containers").join(&id);
        for (name, there) in [
            ("ctr.log", true),
            ("ctr.log.1", true),
            ("ctr.log.2", true),
            ("ctr.log.3", false),
        ] {
            let p = dir.join(name);
            assert_eq!(p.exists(), there, "{name}");
            if there {
                assert!(
                    std::fs::metadata(&p).unwrap().len() <= 4096,
                    "{name} over 4k"
                );
            }
        }
        let out = ctx.ok(&["logs", "l1"]);
        let nums: Vec<u32> = out.stdout.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(nums.last(), Some(&3000), "{out}");
        assert!(
            nums.len() > 100 && nums[0] > 1,
            "only the newest files: {}",
            nums.len()
        );
        assert!(
            nums.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, none twice"
        );
        let out = ctx.ok(&[
            "inspect",
            "--format",
            "{{json .HostConfig.LogConfig}}",
            "l1",
        ]);
        // docker's Config and Type, and podman's Path, Tag and Size.
        let lc: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(
            (&lc["Config"], &lc["Type"]),
            (
                &serde_json::json!({"max-file": "3", "max-size": "4k"}),
                &serde_json::json!("k8s-file")
            ),
            "{out}"
        );
        assert!(lc["Path"].as_str().unwrap().ends_with("/ctr.log"), "{out}");
        // none: shown in the foreground, `logs` refuses as docker does.
        let out = run_ok(
            ctx,
            &["--name", "n1", "--log-driver", "none", IMG, "echo", "hi"],
        );
        assert_eq!(out.stdout, "hi\n");
        let out = ctx.rless(&["logs", "n1"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("does not support reading"), "{out}");
        // Drivers that send output elsewhere, and unknown options: refused
        // before anything is made.
        for opts in [
            &["--log-driver", "journald"][..],
            &["--log-opt", "compress=true"][..],
            &["--log-opt", "max-size=big"][..],
            &["--log-driver", "none", "--log-opt", "max-size=1m"][..],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(opts);
            args.extend_from_slice(&[IMG, "true"]);
            let out = ctx.rless(&args);
            assert_one_error(&out, 125);
        }
        ctx.ok(&["rm", "l1", "n1"]);
        assert_no_containers(ctx, "run_log_driver_and_options");
    });
}

/// docker's boolean flags take `=true` and `=false` (scripts and compose
/// translations write them so), alone and in clusters such as `-it`.
#[test]
fn boolean_flags_take_values() {
    if !have_busybox() {
        return;
    }
    for_each_user("boolean_flags_take_values", |ctx| {
        assert!(setup_image(ctx));
        let out = run_ok(
            ctx,
            &[
                "--rm=true",
                "--privileged=false",
                "--init=false",
                "--read-only=true",
                IMG,
                "sh",
                "-c",
                "touch /x 2>/dev/null || echo ro",
            ],
        );
        assert_eq!(out.stdout, "ro\n", "{out}");
        assert_no_containers(ctx, "--rm=true removed it");
        let id = run_ok(
            ctx,
            &[
                "--detach=true",
                "--rm=false",
                "--name",
                "b",
                IMG,
                "sleep",
                "1000",
            ],
        )
        .last_line()
        .to_string();
        assert_eq!(id.len(), 64, "detached: the id");
        let out = ctx.ok(&[
            "exec",
            "--interactive=false",
            "--tty=false",
            "b",
            "echo",
            "in",
        ]);
        assert_eq!(out.stdout, "in\n");
        let out = ctx.ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.AutoRemove}} {{.HostConfig.Privileged}}",
            "b",
        ]);
        assert_eq!(out.stdout.trim(), "false false");
        ctx.ok(&["rm", "-f", "b"]);
    });
}

/// podman's environment, hosts, umask and annotation options, and
/// docker's `--oom-score-adj`.
#[test]
fn run_podman_process_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_podman_process_options", |ctx| {
        assert!(setup_image(ctx));
        // --env-host passes this environment (the harness's clean one),
        // --unsetenv takes a default away, --unsetenv-all all of them.
        let out = run_ok(
            ctx,
            &["--rm", "--env-host", IMG, "sh", "-c", "echo $LOGNAME"],
        );
        assert_eq!(out.stdout, format!("{}\n", ctx.user.name));
        let out = run_ok(
            ctx,
            &["--rm", "--unsetenv", "PATH", IMG, "/bin/busybox", "env"],
        );
        assert!(!out.stdout.contains("PATH="), "{out}");
        assert!(out.stdout.contains("HOSTNAME="), "{out}");
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--unsetenv-all",
                "-e",
                "ONLY=1",
                IMG,
                "/bin/busybox",
                "env",
            ],
        );
        assert_eq!(out.stdout, "ONLY=1\n", "{out}");
        // --umask and --oom-score-adj reach the command.
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--umask",
                "0027",
                "--oom-score-adj",
                "500",
                IMG,
                "sh",
                "-c",
                "umask; cat /proc/self/oom_score_adj",
            ],
        );
        assert_eq!(out.stdout, "0027\n500\n", "{out}");
        let out = ctx.rless(&["run", "--rm", "--umask", "999", IMG, "true"]);
        assert_one_error(&out, 125);
        // --no-hosts keeps the image's /etc/hosts.
        let script = "cat /etc/hosts 2>/dev/null; echo end";
        let made = run_ok(ctx, &["--rm", IMG, "sh", "-c", script]);
        assert!(made.stdout.contains("localhost"), "{made}");
        let out = run_ok(ctx, &["--rm", "--no-hosts", IMG, "sh", "-c", script]);
        assert!(!out.stdout.contains("localhost"), "the image's own: {out}");
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--no-hosts",
            "--add-host",
            "a:1.2.3.4",
            IMG,
            "true",
        ]);
        assert_one_error(&out, 125);
        // --annotation is kept and shown; --arch/--os make a platform.
        ctx.ok(&[
            "create",
            "--name",
            "an",
            "--annotation",
            "team=hpc",
            IMG,
            "true",
        ]);
        let out = ctx.ok(&["inspect", "--format", "{{json .Config.Annotations}}", "an"]);
        assert_eq!(out.stdout.trim(), r#"{"team":"hpc"}"#);
        ctx.ok(&["rm", "an"]);
        run_ok(
            ctx,
            &["--rm", "--os", "linux", "--arch", "amd64", IMG, "true"],
        );
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--arch",
            "amd64",
            "--platform",
            "linux/amd64",
            IMG,
            "true",
        ]);
        assert_one_error(&out, 125);
        assert_no_containers(ctx, "run_podman_process_options");
    });
}
