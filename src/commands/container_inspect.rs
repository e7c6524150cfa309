//! `rless inspect [--type container|image|volume|network] NAME…`
//! (containers first, then images, volumes and networks, as podman) and
//! `rless container inspect` (containers only, as docker).

use super::format::{to_value, Formatter};
use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use rless::image::time;
use rless::runtime::plan::MountOp;
use rless::runtime::rootfs::RootFs;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// json, or a Go template run on each object, such as '{{.State.Pid}}'.
    #[arg(short, long, default_value = "json")]
    format: String,
    /// Only this kind of object: container, image, volume or network.
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Add containers' sizes: SizeRw (the writable layer) and SizeRootFs
    /// (with the image), in bytes, as docker.
    #[arg(short, long)]
    size: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present = "latest")]
    names: Vec<String>,
}

/// `rless container inspect`: containers only.
pub fn run_containers(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    a.kind = Some("container".into());
    run(ctx, a)
}

pub fn run(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    // Parsed before anything is looked up, so a bad option changes nothing.
    let formatter = Formatter::for_inspect(&a.format)?;
    if a.latest.latest {
        // podman's words here.
        if !a.names.is_empty() {
            return Err(super::latest::LatestError::WithArgs.into());
        }
        a.kind = Some("container".into());
        a.names = vec![super::latest::latest_id(ctx)?];
    }
    let kinds: &[&str] = match a.kind.as_deref() {
        None => &["container", "image", "volume", "network"],
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("volume") => &["volume"],
        Some("network") => &["network"],
        Some(other) => {
            anyhow::bail!("unknown --type {other:?}: use container, image, volume or network")
        }
    };
    let containers = kinds.contains(&"container");
    // Files of subordinate ids may be unreadable outside the namespace.
    if a.size && containers {
        if let Some(code) = ctx.enter_userns()? {
            return Ok(code);
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    // Each name in turn, as docker: the objects found are printed, then the
    // names that were not are reported and the command fails. When none
    // was found, nothing is printed (docker prints `[]`): an error leaves
    // stdout empty, as every rless command's does. Without --type a name
    // is looked up as a container, an image, a volume, then a network, as
    // podman does.
    let mut out = Vec::new();
    let mut failed = super::stop::Failures::default();
    for n in &a.names {
        let mut found = None;
        for kind in kinds {
            found = match *kind {
                "container" => match container::find(&store, n) {
                    Ok((c, dir)) => {
                        let mut o = describe(&c, &dir);
                        // podman's: the digest of the image's manifest
                        // ("" once the image is gone).
                        let image = index
                            .images
                            .iter()
                            .find(|i| i.id.hex() == c.image_id.trim_start_matches("sha256:"));
                        o["ImageDigest"] = image
                            .map_or(String::new(), |i| i.manifest.to_string())
                            .into();
                        if a.size {
                            let rw = super::system::tree_size(
                                &dir.join("upper"),
                                &mut Default::default(),
                            );
                            let image = index
                                .images
                                .iter()
                                .find(|i| i.id.hex() == c.image_id.trim_start_matches("sha256:"))
                                .map_or(0, |i| i.size);
                            o["SizeRw"] = rw.into();
                            o["SizeRootFs"] = (rw + image).into();
                        }
                        Some(Ok(o))
                    }
                    Err(container::ContainerError::NotFound(_)) => None,
                    Err(e) => Some(Err(e.into())),
                },
                "image" => match super::inspect::find_image_or_list(&store, &index, n) {
                    Ok(img) => Some(super::inspect::describe(&store, img)),
                    Err(e)
                        if e.downcast_ref::<rless::image::LookupError>()
                            .is_some_and(|e| {
                                matches!(e, rless::image::LookupError::NotFound(_))
                            }) =>
                    {
                        None
                    }
                    Err(e) => Some(Err(e)),
                },
                "volume" => match container::volume::read(store.root(), n) {
                    Ok(m) => Some(Ok(super::volume::describe(store.root(), &m))),
                    Err(container::volume::VolumeError::NotFound(_)) => None,
                    Err(e) => Some(Err(e.into())),
                },
                _ => match rless::network::read(store.root(), n) {
                    Ok(net) => Some(Ok(super::network::describe(store.root(), &net))),
                    Err(rless::network::NetworkError::NotFound(_)) => None,
                    Err(e) => Some(Err(e.into())),
                },
            };
            if found.is_some() {
                break;
            }
        }
        match found {
            Some(Ok(o)) => out.push(o),
            Some(Err(e)) => failed.add(e),
            None if kinds.len() == 1 => failed.add(anyhow::anyhow!("no such {}: {n}", kinds[0])),
            None => failed.add(anyhow::anyhow!("no such object: {n}")),
        }
    }
    if !out.is_empty() {
        print_objects(formatter.as_ref(), &out)?;
    }
    failed.finish(ExitCode::SUCCESS)
}

/// Objects as a JSON array, or each one through the template.
pub fn print_objects(formatter: Option<&Formatter>, out: &[serde_json::Value]) -> Result<()> {
    match formatter {
        Some(f) => {
            // All rendered first, so a template error prints nothing.
            let lines: Vec<String> = out
                .iter()
                .map(|o| f.render(&to_value(o)))
                .collect::<Result<_>>()?;
            for l in lines {
                println!("{l}");
            }
        }
        None => {
            let out: Vec<serde_json::Value> = out.iter().map(omit_empty).collect();
            println!("{}", serde_json::to_string_pretty(&out)?)
        }
    }
    Ok(())
}

/// `o` as docker's JSON has it: `HostConfig.Tmpfs` is `omitempty` there,
/// `State.Health` is left out without a check,
/// and so are an image's `Variant`, `Config.ExposedPorts` and
/// `Config.StopSignal` (a template still sees the field, as it sees
/// docker's Go struct).
fn omit_empty(o: &serde_json::Value) -> serde_json::Value {
    let mut o = o.clone();
    let empty = |v: &serde_json::Value| {
        v.is_null() || v.as_str() == Some("") || v.as_object().is_some_and(|m| m.is_empty())
    };
    // An image (a container has no RootFS).
    if let Some(img) = o.as_object_mut().filter(|m| m.contains_key("RootFS")) {
        if img.get("Variant").is_some_and(empty) {
            img.remove("Variant");
        }
        if let Some(c) = img.get_mut("Config").and_then(|c| c.as_object_mut()) {
            for k in ["ExposedPorts", "StopSignal"] {
                if c.get(k).is_some_and(empty) {
                    c.remove(k);
                }
            }
        }
    }
    // A container without a check's health (podman's, for templates).
    if let Some(state) = o.get_mut("State").and_then(|s| s.as_object_mut()) {
        if state
            .get("Health")
            .is_some_and(|h| h["Status"].as_str() == Some(""))
        {
            state.remove("Health");
        }
    }
    if let Some(h) = o.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
        if h.get("Tmpfs")
            .is_some_and(|t| t.as_object().is_some_and(|m| m.is_empty()))
        {
            h.remove("Tmpfs");
        }
    }
    o
}

fn describe(c: &container::ContainerConfig, dir: &std::path::Path) -> serde_json::Value {
    let s = container::read_state(dir);
    let spec = container::read_spec(dir).ok();
    let mounts: Vec<serde_json::Value> = spec
        .iter()
        .flat_map(|sp| sp.plan.iter())
        .filter_map(|m| match m {
            MountOp::Bind { source, target, readonly } if !source.starts_with(dir) => {
                Some(serde_json::json!({"Type": "bind", "Source": source, "Destination": target, "Mode": "", "Options": bind_options(*readonly), "RW": !readonly, "Propagation": "rprivate"}))
            }
            MountOp::Volume { name, source, target, readonly, .. } => {
                Some(serde_json::json!({"Type": "volume", "Name": name, "Source": source, "Destination": target, "Driver": "local", "Mode": "", "Options": bind_options(*readonly), "RW": !readonly, "Propagation": "rprivate"}))
            }
            MountOp::Tmpfs { target, options, readonly } => {
                Some(serde_json::json!({"Type": "tmpfs", "Source": "tmpfs", "Destination": target, "Mode": "", "Options": options.split(',').filter(|o| !o.is_empty()).collect::<Vec<_>>(), "RW": !readonly, "Propagation": ""}))
            }
            _ => None,
        })
        .collect();
    let (driver, graph) = match spec.as_ref().map(|s| &s.rootfs) {
        Some(RootFs::Layers(l)) => (
            s.driver
                .clone()
                .unwrap_or_else(|| l.driver.name().to_string()),
            serde_json::json!({
                "LowerDir": l.lower.iter().map(|x| l.layers_dir.join(x).display().to_string()).collect::<Vec<_>>().join(":"),
                "UpperDir": l.upper, "WorkDir": l.work, "MergedDir": dir.join("merged"),
            }),
        ),
        Some(RootFs::Dir(d)) => ("rootfs".to_string(), serde_json::json!({"Dir": d})),
        None => (String::new(), serde_json::json!({})),
    };
    let mut v = serde_json::json!({
        "Type": "container",
        "Id": c.id,
        "Name": c.name,
        "Created": time::format_rfc3339(c.created),
        "Path": c.command.first(),
        "Args": c.command.get(1..).unwrap_or_default(),
        "Image": c.image_id,
        "RestartCount": s.restart_count,
        "ImageName": c.image_name,
        // podman's: the pod's id ("" for none) and the --requires names.
        "Pod": c.pod.clone().unwrap_or_default(),
        "Dependencies": c.requires,
        "State": {
            "Status": s.shown_status(),
            "Running": s.live(),
            "Restarting": s.status == "restarting",
            "Paused": s.paused,
            "Pid": s.pid.unwrap_or(0),
            "MonitorPid": s.monitor_pid,
            "ExitCode": s.exit_code.unwrap_or(0),
            // Go's zero time before the first start (and its end), as docker.
            "StartedAt": s.started.map(time::format_rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": s.finished.map(time::format_rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
            "Error": s.reason.clone().unwrap_or_default(),
            "OOMKilled": false,
            "Dead": false,
        },
        "Driver": driver,
        "Platform": "linux",
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "ResolvConfPath": dir.join("resolv.conf"),
        // podman's: --pidfile's file (podman names one of its own).
        "PidFile": c.run_options.pidfile.as_ref().map_or(String::new(), |p| p.display().to_string()),
        "Config": spec.as_ref().map(|sp| stop_timeout(c, serde_json::json!({
            "Hostname": sp.hostname,
            "Domainname": sp.sysctls.get("kernel.domainname").map_or("", String::as_str),
            "Env": sp.process.env,
            "Cmd": sp.process.args,
            "WorkingDir": sp.process.cwd,
            "User": sp.process.user,
            "Tty": sp.process.tty,
            "OpenStdin": sp.process.stdin,
            "Image": c.image_name,
            // podman's nil map when there is none (json: null).
            "Labels": (!c.labels.is_empty()).then_some(&c.labels),
            "StopSignal": c.stop_signal().name(),
            // The command as run: rless keeps the entrypoint and the
            // command joined, in Cmd; docker's nil slice.
            "Entrypoint": null,
            // podman's: the command line that made it, and --annotation.
            "CreateCommand": c.create_command,
            "Annotations": c.annotations,
        }))),
        "HostConfig": spec.as_ref().map(|sp| host_config(c, serde_json::json!({
            "AutoRemove": c.auto_remove,
            "Binds": or_null(c.mounts.iter().filter_map(|m| match m {
                MountOp::Bind { source, target, readonly } => Some(format!(
                    "{}:{}{}", source.display(), target.display(), if *readonly { ":ro" } else { "" }
                )),
                _ => None,
            }).collect::<Vec<_>>()),
            "PortBindings": port_map(
                sp.slirp.iter().flat_map(|sl| &sl.ports).chain(sp.user_networks.iter().flat_map(|u| &u.ports)),
                true,
            ),
            // --privileged: every capability and no seccomp filter.
            "Privileged": sp.process.caps.names() == rless::runtime::caps::CapSet::all().names()
                && matches!(sp.process.seccomp, rless::runtime::SeccompMode::Unconfined),
            "RestartPolicy": restart_policy(c.restart),
            "NoNewPrivileges": sp.process.no_new_privs,
            "NetworkMode": match (sp.private_network, &sp.slirp, &sp.user_networks) {
                _ if sp.namespaces.net.is_some() => sp.network_names().join(","),
                (false, _, _) => "host".to_string(),
                (true, Some(_), _) => "slirp".into(),
                (true, None, Some(u)) => u.attachments.iter().map(|a| a.network.as_str()).collect::<Vec<_>>().join(","),
                (true, None, None) => "none".into(),
            },
            "PidMode": sp.namespaces.pid.mode(),
            "IpcMode": sp.namespaces.ipc.mode(),
            "UTSMode": sp.namespaces.uts.mode(),
            "Sysctls": sp.sysctls,
            "ShmSize": sp.namespaces.shm_size.unwrap_or(rless::runtime::share::DEFAULT_SHM_SIZE),
            "UsernsMode": match (sp.keep_id, sp.keep_id_as) {
                (true, Some((u, g))) => format!("keep-id:uid={u},gid={g}"),
                (true, None) => "keep-id".into(),
                // --uidmap: podman's word for a namespace of its own.
                (false, _) if sp.id_maps.is_some() => "private".into(),
                (false, _) => String::new(),
            },
            "IDMappings": sp.id_maps.as_ref().map(|m| serde_json::json!({
                "UidMap": rless::runtime::idmap::shown(&m.uids),
                "GidMap": rless::runtime::idmap::shown(&m.gids),
            })),
            "IdMapping": sp.ids.name(),
            "StorageOpt": match &sp.rootfs {
                RootFs::Layers(l) if l.writeback => serde_json::json!({"writeback": "true"}),
                _ => serde_json::json!({}),
            },
        }))),
        "Mounts": mounts,
        "GraphDriver": {"Name": driver, "Data": graph},
        "NetworkSettings": match pod_network_dir(c, dir) {
            // A pod member sharing its pod's network, or a container on
            // another's: that one's settings (ports included), as podman's.
            Some(infra) => network_settings(
                container::read_spec(&infra).ok().as_ref(),
                &container::read_state(&infra),
                &container::read_config(&infra).map(|o| o.exposed_ports).unwrap_or_default(),
            ),
            None => network_settings(spec.as_ref(), &s, &c.exposed_ports),
        },
        "LogPath": container::logs::log_path(dir),
    });
    with_health(c, dir, &mut v);
    if let Some(o) = v.as_object_mut() {
        // podman's: --rootfs's directory ("" for an image's layers), the
        // runtime, and the capabilities the process starts with.
        let rootfs = match spec.as_ref().map(|s| &s.rootfs) {
            Some(RootFs::Dir(d)) => d.display().to_string(),
            _ => String::new(),
        };
        let caps = spec.as_ref().map(|sp| sp.process.caps.names());
        o.insert("Rootfs".into(), rootfs.into());
        o.insert("OCIRuntime".into(), "rless".into());
        o.insert("Namespace".into(), "".into());
        o.insert(
            "IsInfra".into(),
            spec.as_ref().is_some_and(|sp| sp.infra).into(),
        );
        o.insert("IsService".into(), false.into());
        o.insert("EffectiveCaps".into(), serde_json::json!(caps));
        o.insert("BoundingCaps".into(), serde_json::json!(caps));
    }
    // podman's umask (rless's default 0022 when not given).
    if let (Some(sp), Some(config)) = (&spec, v.get_mut("Config").and_then(|c| c.as_object_mut())) {
        let umask = format!("{:04o}", sp.process.umask.unwrap_or(0o022));
        config.insert("Umask".into(), umask.into());
    }
    if let (Some(sp), Some(h)) = (
        &spec,
        v.get_mut("HostConfig").and_then(|h| h.as_object_mut()),
    ) {
        h.insert(
            "OomScoreAdj".into(),
            sp.process.oom_score_adj.unwrap_or(0).into(),
        );
        // docker's and podman's fields for what rless has no option for,
        // with their values when unset.
        for (k, zero) in [
            ("Runtime", serde_json::json!("oci")),
            ("Links", serde_json::Value::Null),
            ("ConsoleSize", serde_json::json!([0, 0])),
            ("Isolation", serde_json::json!("")),
            ("VolumeDriver", serde_json::json!("")),
            ("Cgroup", serde_json::json!("")),
            ("OomKillDisable", serde_json::json!(false)),
            ("MemorySwappiness", serde_json::json!(-1)),
            ("KernelMemory", serde_json::json!(0)),
            ("CpuCount", serde_json::json!(0)),
            ("CpuPercent", serde_json::json!(0)),
            ("CpuRealtimePeriod", serde_json::json!(0)),
            ("CpuRealtimeRuntime", serde_json::json!(0)),
            ("IOMaximumBandwidth", serde_json::json!(0)),
            ("IOMaximumIOps", serde_json::json!(0)),
        ] {
            h.entry(k).or_insert(zero);
        }
    }
    // podman's: where the log is, and its tag and size limit (none).
    if let Some(l) = v
        .pointer_mut("/HostConfig/LogConfig")
        .and_then(|l| l.as_object_mut())
    {
        l.insert(
            "Path".into(),
            serde_json::json!(container::logs::log_path(dir)),
        );
        l.entry("Tag").or_insert_with(|| "".into());
        l.entry("Size").or_insert_with(|| "0B".into());
    }
    v
}

/// `Config.Healthcheck` (as created: `{"Test": ["NONE"]}` after
/// `--no-healthcheck`) and, for a container with a check that has run,
/// `State.Health`, as docker shows them.
fn with_health(c: &container::ContainerConfig, dir: &std::path::Path, v: &mut serde_json::Value) {
    // podman's empty health for templates (`{{.State.Health.Status}}` is
    // "" without a check); the JSON leaves it out, as docker's
    // ([`omit_empty`]).
    if let Some(state) = v.get_mut("State").and_then(|s| s.as_object_mut()) {
        state.insert(
            "Health".into(),
            serde_json::json!({"Status": "", "FailingStreak": 0, "Log": null}),
        );
    }
    let Some(check) = &c.healthcheck else {
        return;
    };
    if let Some(config) = v.get_mut("Config").and_then(|c| c.as_object_mut()) {
        let mut shown = serde_json::json!(check);
        // podman's: the interval, timeout and retries in effect (docker's
        // defaults when not given), so templates always find them.
        if let (Some(o), Some(_)) = (shown.as_object_mut(), check.command()) {
            o.insert(
                "Interval".into(),
                (check.interval().as_nanos() as u64).into(),
            );
            o.insert("Timeout".into(), (check.timeout().as_nanos() as u64).into());
            o.insert("Retries".into(), check.retries().into());
        }
        config.insert("Healthcheck".into(), shown);
    }
    let health = container::health::read(dir).filter(|_| check.command().is_some());
    if let (Some(h), Some(state)) = (health, v.get_mut("State").and_then(|s| s.as_object_mut())) {
        state.insert("Health".into(), serde_json::json!(h));
    }
}

/// The directory of the container whose network `c` (in `dir`) is on,
/// when not its own: a pod's infra container for a member sharing its
/// network, X for `--network container:X`.
fn pod_network_dir(
    c: &container::ContainerConfig,
    dir: &std::path::Path,
) -> Option<std::path::PathBuf> {
    // containers/<id> -> the store's root.
    let root = dir.parent()?.parent()?;
    super::netowner::owner(root, c).map(|id| dir.with_file_name(id))
}

/// docker's `NetworkSettings` (with podman's IPv6 and sandbox fields);
/// `exposed`: the container's exposed ports (`80/tcp`).
fn network_settings(
    spec: Option<&rless::runtime::ContainerSpec>,
    s: &container::ContainerState,
    exposed: &[String],
) -> serde_json::Value {
    let slirp = spec.is_some_and(|sp| sp.slirp.is_some());
    let mut ports = port_map(s.ports.iter().filter(|_| s.running()), false);
    // An exposed port not published is `"80/tcp": null`, as docker's and
    // podman's (not on the host's network, where docker lists none).
    let own_network = spec.is_some_and(|sp| sp.private_network);
    if let (true, true, Some(map)) = (s.running(), own_network, ports.as_object_mut()) {
        for e in exposed {
            map.entry(e.as_str()).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({
        "Gateway": if slirp { "10.0.2.2" } else { "" },
        "IPAddress": match (s.running(), slirp) {
            (false, _) => String::new(),
            (true, true) => "10.0.2.100".to_string(),
            (true, false) => s.networks.first().map(|(_, ip)| ip.to_string()).unwrap_or_default(),
        },
        "IPPrefixLen": match (s.running(), slirp) {
            (false, _) => 0,
            (true, true) => 24,
            (true, false) => s.networks.first().and_then(|(n, _)| net_config(spec, n)).map_or(0, |n| n.subnet.prefix),
        },
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "MacAddress": "",
        "EndpointID": "",
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "HairpinMode": false,
        "Networks": networks(spec, s),
        // Only while it runs, as docker: a stopped or restarting
        // container's ports are free (the state keeps the last run's).
        "Ports": ports,
    })
}

/// The definition of user network `name` the container joined.
fn net_config(
    spec: Option<&rless::runtime::ContainerSpec>,
    name: &str,
) -> Option<rless::network::NetworkConfig> {
    let u = spec?.user_networks.as_ref()?;
    rless::network::read(&u.store, name).ok()
}

/// podman's `Mounts[].Options` of a bind or volume.
fn bind_options(readonly: bool) -> Vec<&'static str> {
    match readonly {
        true => vec!["rbind", "ro"],
        false => vec!["rbind"],
    }
}

/// Go's zero `time.Time`: what docker shows for a time not yet reached.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A list docker leaves nil (JSON `null`) when nothing was given.
fn or_null(list: Vec<String>) -> serde_json::Value {
    match list.is_empty() {
        true => serde_json::Value::Null,
        false => list.into(),
    }
}

/// HostConfig lists the docker CLI leaves nil when the option is not
/// given (`Dns`, `DnsSearch` and `DnsOptions` it sends empty).
const NIL_WHEN_EMPTY: &[&str] = &[
    "CapAdd",
    "CapDrop",
    "ExtraHosts",
    "SecurityOpt",
    "VolumesFrom",
    "Ulimits",
];

/// `derived` (what the spec tells) with the options the container
/// recorded in docker's form (`ReadonlyRootfs`, `Memory`, `CapAdd`…).
fn host_config(c: &container::ContainerConfig, derived: serde_json::Value) -> serde_json::Value {
    let mut out = match serde_json::to_value(&c.host_config) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for k in NIL_WHEN_EMPTY {
        if let Some(v) = out.get_mut(*k) {
            if v.as_array().is_some_and(|a| a.is_empty()) {
                *v = serde_json::Value::Null;
            }
        }
    }
    if let serde_json::Value::Object(d) = derived {
        out.extend(d);
    }
    // docker leaves `Sysctls` out when there are none (omitempty).
    if out
        .get("Sysctls")
        .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
    {
        out.remove("Sysctls");
    }
    out.into()
}

/// docker's `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, for
/// the ports bound (`NetworkSettings.Ports`) or `asked` for
/// (`HostConfig.PortBindings`, where any host port is "", a range
/// `8000-8010`, and no host address "": both families' wildcards).
fn port_map<'a>(
    ports: impl Iterator<Item = &'a rless::runtime::network::Publish>,
    asked: bool,
) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto_name());
        let host_port = match (p.host_port, p.host_port_last) {
            (0, _) => String::new(),
            (first, last) if last > first => format!("{first}-{last}"),
            (n, _) => n.to_string(),
        };
        let host_ip = if asked && p.host_ip.is_unspecified() && p.host_ip.is_ipv4() && !p.ipv4_only
        {
            String::new()
        } else {
            p.host_ip.to_string()
        };
        let binding = serde_json::json!({"HostIp": host_ip, "HostPort": host_port});
        if let serde_json::Value::Array(a) = map.entry(key).or_insert_with(|| serde_json::json!([]))
        {
            a.push(binding);
        }
    }
    map.into()
}

/// docker's `{"Name": "on-failure", "MaximumRetryCount": 3}`.
fn restart_policy(r: container::RestartPolicy) -> serde_json::Value {
    let (name, max) = match r {
        container::RestartPolicy::No => ("no", 0),
        container::RestartPolicy::Always => ("always", 0),
        container::RestartPolicy::UnlessStopped => ("unless-stopped", 0),
        container::RestartPolicy::OnFailure(max) => ("on-failure", max),
    };
    serde_json::json!({"Name": name, "MaximumRetryCount": max})
}

/// docker's `NetworkSettings.Networks`: one entry per network, with the
/// address while it runs; `slirp`, `host` or `none` for those modes, so
/// `{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}` always works.
fn networks(
    spec: Option<&rless::runtime::ContainerSpec>,
    s: &container::ContainerState,
) -> serde_json::Value {
    let Some(sp) = spec else {
        return serde_json::json!({});
    };
    let aliases = |n: &str| {
        sp.user_networks
            .iter()
            .flat_map(|u| &u.attachments)
            .find(|a| a.network == n)
            .map(|a| a.aliases.clone())
            .unwrap_or_default()
    };
    let running = s.running();
    sp.network_names()
        .into_iter()
        .map(|n| {
            let ip = match n.as_str() {
                "slirp" if running => "10.0.2.100".to_string(),
                _ => s
                    .networks
                    .iter()
                    .filter(|_| running)
                    .find(|(name, _)| *name == n)
                    .map(|(_, ip)| ip.to_string())
                    .unwrap_or_default(),
            };
            let config = net_config(Some(sp), &n);
            let (gateway, prefix) = match (n.as_str(), &config) {
                ("slirp", _) => ("10.0.2.2".to_string(), 24),
                (_, Some(c)) => (c.gateway.to_string(), c.subnet.prefix),
                _ => (String::new(), 0),
            };
            let entry = serde_json::json!({
                "IPAddress": ip,
                "Gateway": gateway,
                "IPPrefixLen": if ip.is_empty() { 0 } else { prefix },
                "NetworkID": config.as_ref().map_or(n.clone(), |c| c.id.as_str().to_string()),
                "Aliases": or_null(aliases(&n)),
                "MacAddress": "",
                "EndpointID": "",
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "Links": null,
                "IPAMConfig": null,
                "DriverOpts": null,
            });
            (n, entry)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `Config.StopTimeout`, only when `--stop-timeout` was given (docker
/// omits it otherwise); podman's `Config.Secrets`, only when the
/// container has file secrets; podman's `Timezone` and `Timeout` (`--tz`,
/// `--timeout`) and `HealthcheckOnFailureAction`, and docker's `Attach*`
/// when `-a` chose the streams.
fn stop_timeout(
    c: &container::ContainerConfig,
    mut config: serde_json::Value,
) -> serde_json::Value {
    let Some(o) = config.as_object_mut() else {
        return config;
    };
    if let Some(t) = c.stop_timeout {
        o.insert("StopTimeout".into(), t.into());
    }
    // podman's: the file secrets, without their data (left out when none).
    let files: Vec<serde_json::Value> = c
        .secrets
        .iter()
        .filter(|s| s.env.is_none())
        .map(|s| {
            serde_json::json!({"Name": s.name, "ID": s.id, "UID": s.uid, "GID": s.gid, "Mode": s.mode})
        })
        .collect();
    if !files.is_empty() {
        o.insert("Secrets".into(), files.into());
    }
    // docker's, always there (`-a` sets the Attach* ones below).
    for k in ["AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"] {
        o.insert(k.into(), false.into());
    }
    o.insert("Volumes".into(), serde_json::Value::Null);
    o.insert("OnBuild".into(), serde_json::Value::Null);
    let r = &c.run_options;
    if !r.timezone.is_empty() {
        o.insert("Timezone".into(), r.timezone.clone().into());
    }
    if r.timeout != 0 {
        o.insert("Timeout".into(), r.timeout.into());
    }
    // podman's, always there (`--health-on-failure`, none by default).
    let action = match r.health_on_failure.as_str() {
        "" => "none",
        a => a,
    };
    o.insert("HealthcheckOnFailureAction".into(), action.into());
    if !r.attach.is_empty() {
        for (k, s) in [
            ("AttachStdin", "stdin"),
            ("AttachStdout", "stdout"),
            ("AttachStderr", "stderr"),
        ] {
            o.insert(k.into(), r.attach.iter().any(|a| a == s).into());
        }
    }
    config
}
