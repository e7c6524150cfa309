//! `rless run [OPTIONS] IMAGE [COMMAND [ARG…]]`: create a container from a
//! stored image and run it in the foreground; this process is its monitor.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::host_config::DeviceMapping;
use rless::container::mountspec::{self, Requested};
use rless::container::{self, volume, ContainerConfig, ContainerId, RestartPolicy};
use rless::image::store::LockMode;
use rless::image::{find_image, time};
use rless::runtime::caps::CapSet;
use rless::runtime::network::{parse_publish, SlirpSpec, UserNetSpec};
use rless::runtime::plan::{self, MountOp, PlanInput};
use rless::runtime::rootfs::RootFs;
use rless::runtime::storage::{Driver, Layers};
use rless::runtime::{ContainerSpec, ProcessSpec, SeccompMode};
use rless::trace;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    run_or_create(ctx, a, false)
}

/// `rless create`: everything `run` does up to starting the container; the
/// container waits in the `created` state for `rless start`.
pub fn create(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    run_or_create(ctx, a, true)
}

fn run_or_create(ctx: &Ctx, mut a: Args, create_only: bool) -> Result<ExitCode> {
    // A build's RUN `env=` secrets: out of this process's environment
    // first, so that no helper it starts inherits them.
    let build_env = secrets::take_build_env()?;
    a.platform = platform_of(&a)?;
    trace::mark("arguments parsed");
    // An option clap does not know lands in IMAGE (which takes values that
    // start with '-', for the command after it): it came before the image.
    // (One after the image is the command's: see the init's "not found".)
    if let Some(flag) = a.args.first().filter(|f| f.starts_with('-')) {
        bail!("unknown flag: {flag} (see `rless run --help`)");
    }
    // Everything is checked before anything is created.
    if let Some(code) = (!create_only)
        .then(|| super::refuse_non_tty_input(a.interactive, a.tty, a.detach))
        .flatten()
    {
        return Ok(code);
    }
    // The kernel takes at most 64 bytes (it failed at every start).
    if let Some(h) = a.hostname.as_deref() {
        if h.is_empty() || h.len() > 64 || h.chars().any(|c| c.is_control() || c.is_whitespace()) {
            bail!("invalid hostname {h:?}: 1 to 64 characters, no spaces");
        }
    }
    replace::check(a.replace, a.name.as_deref())?;
    // podman's --rmi implies --rm, and refuses a --rm=false given with it.
    if a.rmi && a.rm == Some(false) {
        bail!("the --rmi option does not work without --rm");
    }
    a.rm = Some(a.removes() || a.rmi);
    let mut extra = runopts::check(&a)?;
    let more = moreopts::check(&a.more, a.init, create_only)?;
    let pod_opts = podopts::check(ctx, &mut a)?;
    let per_net = netalias::split(&mut a.network)?;
    if a.no_hosts && !a.add_host.is_empty() {
        bail!("--no-hosts and --add-host cannot be set together");
    }
    let annotations = annotations_of(&a)?;
    let umask = umask_of(&a)?;
    log_config(&a)?;
    let (keep_id, keep_id_as) = keepid::parse_userns(&a.userns, &ctx.ids)?;
    // Who the caller is inside with keep-id.
    let keep_ids = keep_id_as.unwrap_or_else(rless::userns::own_ids);
    let net_donor = network_donor(&a)?;
    let user_nets = match net_donor {
        Some(_) => Vec::new(),
        None => user_networks(ctx, &a, keep_id)?,
    };
    per_net.check(&user_nets)?;
    moreopts::check_mac(&a.more, !user_nets.is_empty())?;
    let (private_network, mut slirp) = if net_donor.is_some() {
        (false, None)
    } else if user_nets.is_empty() {
        let mode = a.network.first().map_or("slirp", String::as_str);
        parse_network(mode, &a.publish, a.pcap.clone(), a.port_driver.as_deref())?
    } else {
        (true, None)
    };
    let publish_all = a.publish_all;
    let user_ip = match &a.ip {
        None => None,
        Some(ip) => {
            let ip: std::net::Ipv4Addr = ip
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid --ip {ip:?}: not an IPv4 address"))?;
            let Some(n) = user_nets.first() else {
                bail!("--ip needs a user-defined network (--network NAME)");
            };
            if !n.subnet.is_host(ip) || ip == n.gateway {
                bail!(
                    "--ip {ip} is outside network {}'s subnet {} (or is its gateway)",
                    n.name,
                    n.subnet
                );
            }
            Some(ip)
        }
    };
    let stop_signal = match &a.stop_signal {
        Some(s) => Some(
            rless::signal::Sig::parse(s)
                .ok_or_else(|| anyhow::anyhow!("invalid --stop-signal {s:?}: not a signal"))?,
        ),
        None => None,
    };
    let restart = RestartPolicy::parse(&a.restart).ok_or_else(|| {
        anyhow::anyhow!(
            "invalid --restart {:?}: use no, on-failure[:N], always or unless-stopped",
            a.restart
        )
    })?;
    if restart != RestartPolicy::No && a.removes() {
        bail!("conflicting options: --restart and --rm");
    }
    // docker's words; the file is the user's, and is left as it is.
    if let Some(f) = a
        .cidfile
        .as_deref()
        .filter(|f| f.symlink_metadata().is_ok())
    {
        bail!(
            "container ID file found, make sure the other container isn't running or delete {}",
            f.display()
        );
    }
    // CDI devices (`--device VENDOR/CLASS=NAME`, `--gpus`), every path
    // checked before anything is made.
    let cdi_devices = cdi::resolve(&a)?;
    if let Some(r) = &cdi_devices {
        let gids = cdi::groups(r, &a, &ctx.ids);
        a.group_add.extend(gids);
    }
    check_group_add(&a.group_add, &ctx.ids)?;
    let chosen_secrets = secrets::lookup(ctx, &a.secret)?;
    let pull_policy = PullPolicy::parse(&a.pull)?;
    let (seccomp, no_new_privs) = security_options(&a.security_opt, a.privileged)?;
    let rlimits = a
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<Vec<_>>>()?;
    let id = ContainerId::random();
    let (cgroup, cgroup_warning) = check_cgroups(&a, &id)?;
    let caps = if a.privileged {
        CapSet::all()
    } else {
        CapSet::docker_default().adjusted(&a.cap_add, &a.cap_drop)?
    };
    let mut requested = Vec::new();
    for v in &a.volume {
        requested.push(mountspec::parse_volume(v)?);
    }
    for m in &a.mount {
        requested.push(mountspec::parse_mount(m)?);
    }
    for t in &a.tmpfs {
        requested.push(Requested::Mount(mountspec::parse_tmpfs(t)?));
    }
    for d in a.device.iter().filter(|d| !rless::cdi::is_qualified(d)) {
        let (bind, limited) = mountspec::parse_device(d)?;
        if limited {
            eprintln!(
                "rless: warning: --device {d}: rootless, the device's own file permissions decide its access (no device cgroup)"
            );
        }
        requested.push(Requested::Mount(bind));
    }
    if let Some(r) = &cdi_devices {
        requested.extend(cdi::binds(r));
    }
    mountspec::check_duplicates(&requested)?;
    secrets::check_mount_clash(&chosen_secrets, &requested)?;
    let user_env = env::user_env(&a, cdi_devices.as_ref())?;
    env::check_merge(&a)?;

    // An empty RLESS_STORAGE_DRIVER counts as unset, as in `info`.
    let driver = match a.storage_driver.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => Driver::parse(v).ok_or_else(|| {
            anyhow::anyhow!("unknown --storage-driver {v:?}: use overlay, fuse-overlay or auto")
        })?,
        None => rless::config::storage_driver()?.map_or(Driver::Auto, |(d, _)| d),
    };
    let (writeback, mut driver) = storage_options(&a.storage_opt, driver)?;
    let id_view = keepid::keep_id_view(
        ctx,
        keep_id.then_some(keep_ids),
        a.rootfs.is_some(),
        &mut driver,
    )?;
    let shares = net_donor.is_some() || !user_nets.is_empty();
    let id_maps = idmaps::check(ctx, &a, shares, &mut driver)?;
    // What does not depend on the image is checked before a pull, so a
    // mistake is reported at once, without asking a registry.
    let user_labels = options::labels(&Default::default(), &a.label, &a.label_file)?;
    let dns = Dns::parse(&a.dns, &a.dns_search, &a.dns_option)?;
    // Any address for host-gateway: the real one is looked up later.
    let has_gateway = slirp.is_some() || !user_nets.is_empty() || !private_network;
    for h in &a.add_host {
        parse_add_host(h, has_gateway.then_some("127.0.0.1"))?;
    }
    let mut user_ports = Vec::new();
    if !user_nets.is_empty() {
        for p in &a.publish {
            user_ports.extend(parse_publish(p).map_err(|m| anyhow::anyhow!(m))?);
        }
    }
    for e in &a.expose {
        // A container port (or range) alone: no host part, as docker's;
        // not SCTP, which podman 4.3 refuses to expose (an image's EXPOSE
        // of it is recorded).
        match rless::image::change::expose(e) {
            None => bail!("invalid --expose {e:?}: use PORT[-PORT][/tcp|udp]"),
            Some(p) if p.iter().any(|p| p.ends_with("/sctp")) => {
                bail!("invalid --expose {e:?}: protocol SCTP is not allowed for exposed ports")
            }
            Some(_) => {}
        }
    }
    // A pod's member joins its infra container, which must run first.
    if let (Some(infra), false) = (&pod_opts.infra, create_only) {
        crate::commands::pod::start_infra(ctx, infra)?;
    }
    // The containers named (--volumes-from, --pid container:X, ...); the
    // store is let go before a pull takes it.
    let (shared, mut inherited) = {
        let store = ctx.store(LockMode::Shared)?;
        let shared = namespaces(
            &store,
            &a,
            net_donor.as_deref(),
            (keep_id, keep_id_as),
            !user_nets.is_empty(),
            !create_only,
        )?;
        let mut inherited = Vec::new();
        for f in &a.volumes_from {
            inherited.extend(volumes_from(&store, f)?);
        }
        (shared, inherited)
    };
    idmaps::check_shares(id_maps.as_ref(), !shared.ns.donors().is_empty())?;
    let sysctls = sysctls(&a, &shared.ns, private_network, net_donor.as_deref())?;
    if a.rootfs.is_none() && !a.pod_infra {
        let pulled = ensure_image(ctx, &a.args[0], pull_policy, a.platform.as_deref(), a.quiet)?;
        if let Some(code) = pulled {
            return Ok(code);
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let (image_id, image_name, layers_dir, lower, defaults, rest) = match &a.rootfs {
        // A pod's infra container: an empty root, as an image without
        // layers has; its process is rless's (see `ContainerSpec::infra`).
        None if a.pod_infra => (
            String::new(),
            String::new(),
            store.root().join("layers"),
            vec![store.empty_layer()?],
            ImageDefaults::default(),
            a.args.clone(),
        ),
        Some(dir) => {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("--rootfs {}", dir.display()))?;
            (
                String::new(),
                dir.display().to_string(),
                dir,
                Vec::new(),
                ImageDefaults::default(),
                a.args.clone(),
            )
        }
        None => {
            let index = store.index()?;
            let img = find_image(&index, &a.args[0]).map_err(|e| match e {
                rless::image::LookupError::NotFound(_) => {
                    anyhow::anyhow!("{e}; pull it first with `rless pull {}`", a.args[0])
                }
                e => anyhow::anyhow!(e),
            })?;
            let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
            let defaults = ImageDefaults::from_config(&config);
            let mut lower = Vec::new();
            for l in img.layers.iter().rev() {
                let meta = store.layer_meta(&l.diff_id)?;
                if meta.form() != fuse_overlay::layout::WhiteoutForm::Overlay {
                    // Marker whiteouts: only fuse-overlay reads them.
                    if driver == Driver::Overlay {
                        bail!(
                            "layer {} stores deletions as marker files (this host refused 0:0 device nodes or user xattrs), which kernel overlayfs cannot read; use --storage-driver fuse-overlay",
                            l.diff_id.short()
                        );
                    }
                    driver = Driver::FuseOverlay;
                }
                lower.push(format!("{}/diff", l.diff_id.hex()));
            }
            if lower.is_empty() {
                // An image without layers: an empty root, as docker gives.
                lower.push(store.empty_layer()?);
            }
            let name = rless::image::recorded_name(&a.args[0], img);
            (
                img.id.hex().to_string(),
                name,
                store.root().join("layers"),
                lower,
                defaults,
                a.args[1..].to_vec(),
            )
        }
    };
    let image_profile = moreopts::image_seccomp(&a.more, &defaults.labels)?;
    let mut labels = defaults.labels.clone();
    labels.extend(user_labels);
    let healthcheck = args::healthcheck(&a, defaults.healthcheck.as_ref())?;
    let has_check = healthcheck.as_ref().is_some_and(|h| h.command().is_some());
    extra.options.health_on_failure = moreopts::health_on_failure(&a.more, has_check)?;
    let exposed = exposed_ports(&defaults.exposed, &a.expose)?;
    if publish_all {
        let ports = match &mut slirp {
            Some(sl) => Some(&mut sl.ports),
            None if !user_nets.is_empty() => Some(&mut user_ports),
            None => {
                eprintln!("rless: warning: -P is ignored without a userspace network");
                None
            }
        };
        if let Some(ports) = ports {
            // A port `-p` publishes already keeps only that binding, as
            // docker's and podman's -P.
            let given: Vec<(u16, &str)> = ports
                .iter()
                .map(|p| (p.container_port, p.proto_name()))
                .collect();
            let mut picked = Vec::new();
            for e in &exposed {
                // Nothing here forwards SCTP (`-p` refuses it too).
                if e.ends_with("/sctp") {
                    eprintln!(
                        "rless: warning: -P does not publish {e}: SCTP ports cannot be published"
                    );
                    continue;
                }
                let new = parse_publish(e).map_err(|m| anyhow::anyhow!(m))?;
                picked.extend(
                    new.into_iter()
                        .filter(|p| !given.contains(&(p.container_port, p.proto_name()))),
                );
            }
            ports.extend(picked);
        }
    }

    let (entrypoint, cmd) = match &a.entrypoint {
        Some(e) if e.is_empty() => (vec![], rest),
        Some(e) => (vec![e.clone()], rest),
        None if rest.is_empty() => (defaults.entrypoint, defaults.cmd),
        None => (defaults.entrypoint, rest),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        bail!("no command given and the image has none");
    }
    moreopts::check_systemd(&a.more, &args)?;
    // --volumes-from, then the image's VOLUMEs the user does not cover,
    // come before the user's own mounts.
    let covered: Vec<PathBuf> = requested
        .iter()
        .map(|r| match r {
            Requested::Mount(m) | Requested::BindToCreate(m) => m.target().cloned(),
            Requested::Volume(v) => Some(v.target.clone()),
        })
        .chain(inherited.iter().map(|m: &MountOp| m.target().cloned()))
        .flatten()
        .collect();
    let image_volumes = moreopts::image_volumes(more.image_volume, &defaults.volumes, &covered)?;
    for r in &requested {
        if let Requested::BindToCreate(MountOp::Bind { source, .. }) = r {
            std::fs::create_dir_all(source)
                .with_context(|| format!("cannot create bind source {}", source.display()))?;
        }
    }

    // The volumes lock is held until the container that uses them is
    // recorded, so no `volume rm` can slip in between.
    let volumes_lock = volume::lock(store.root())?;
    let mut user_mounts = Vec::new();
    let mut made = Vec::new();
    let mut failure = None;
    for r in image_volumes
        .into_iter()
        .map(Some)
        .chain([None])
        .chain(requested.into_iter().map(Some))
    {
        match r {
            // The slot between the image's volumes and the user's mounts.
            None => user_mounts.append(&mut inherited),
            Some(Requested::Mount(m) | Requested::BindToCreate(m)) => user_mounts.push(m),
            Some(Requested::Volume(v)) => match volume::resolve(store.root(), &v) {
                Ok((m, new)) => {
                    if new {
                        made.push(volume_name(&m));
                    }
                    user_mounts.push(m);
                }
                Err(e) => {
                    failure = Some(anyhow::Error::from(e));
                    break;
                }
            },
        }
    }
    if let (None, true, Some(name)) = (&failure, a.replace, &a.name) {
        if let Err(e) = replace::remove_named(ctx, &store, name) {
            failure = Some(e);
        }
    }
    // The pods lock too, and the pod checked again under it: `pod rm`
    // looks for members under that lock, so it cannot remove the pod
    // between this check and the container's record.
    let pod_lock = match (&failure, &pod_opts.pod) {
        (None, Some(pod)) => {
            match podopts::lock_pod(&store, pod, a.pod.as_deref().unwrap_or(pod)).and_then(|l| {
                if a.pod_infra {
                    container::pod::set_infra_locked(store.root(), pod, id.as_str())?;
                }
                Ok(l)
            }) {
                Ok(l) => Some(l),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        }
        _ => None,
    };
    let created = match failure {
        Some(e) => Err(e),
        None => container::create(
            &store,
            ContainerConfig {
                id: id.clone(),
                name: a.name.clone().unwrap_or_default(),
                image_id,
                image_name,
                command: args.clone(),
                created: time::now(),
                created_ns: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos()),
                auto_remove: a.removes(),
                restart,
                mounts: user_mounts.clone(),
                labels,
                stop_signal: stop_signal.or(defaults.stop_signal).map(|s| s.name()),
                stop_timeout: a.stop_timeout,
                healthcheck: healthcheck.clone(),
                host_config: {
                    let mut h = host_options(&a, &rlimits);
                    h.devices.extend(
                        cdi_devices
                            .iter()
                            .flat_map(|r| &r.names)
                            .map(|n| DeviceMapping::from_option(n)),
                    );
                    h
                },
                annotations: annotations.clone(),
                create_command: std::env::args_os()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
                create_dir: std::env::current_dir().ok(),
                secrets: secrets::records(&chosen_secrets),
                run_options: extra.options.clone(),
                pod: pod_opts.pod.clone(),
                requires: pod_opts.requires.clone(),
                exposed_ports: exposed,
            },
        )
        .map_err(anyhow::Error::from),
    };
    let (config, dir) = match created {
        Ok(c) => c,
        Err(e) => {
            // Nothing is left behind: the volumes made here are still empty.
            for n in made {
                let _ = volume::remove(store.root(), &n, true);
            }
            return Err(e);
        }
    };
    drop(pod_lock);
    drop(volumes_lock);
    // A member's start holds the pods lock, shared, until it runs (see
    // `start`): `pod rm` without -f cannot remove it as not running while
    // it starts. Taken again, shared, not the create's exclusive one kept:
    // the starts this run makes first (`--requires`, the infra container)
    // take it shared themselves. A `pod rm` that came between the two has
    // removed the member, which is then not found.
    let pods_held = match (create_only, &config.pod) {
        (false, Some(_)) => {
            let l = container::pod::lock_shared(&store)?;
            container::find(&store, config.id.as_str())?;
            Some(l)
        }
        _ => None,
    };
    drop(store);
    // A member's name on its pod's networks, while the infra container runs.
    rless::network::podnames::member_added(&ctx.root, &config);
    if let Some(f) = &a.cidfile {
        if let Err(e) = write_cidfile(f, &config.id) {
            let _ = container::remove(&dir, true);
            return Err(e);
        }
    }
    let (secret_mounts, secret_env) = match secrets::install(&dir, &chosen_secrets) {
        Ok((m, mut env)) => {
            env.extend(build_env);
            (m, env)
        }
        Err(e) => {
            abandon(&dir, a.cidfile.as_deref());
            return Err(e);
        }
    };
    user_mounts.extend(secret_mounts);
    trace::mark("container created");
    // With the host's network, the host's name (as docker), which its
    // /etc/hosts, copied in, resolves.
    let hostname = a.hostname.clone().or(shared.hostname).unwrap_or_else(|| {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        if private_network || host.is_empty() {
            id.short().to_string()
        } else {
            host
        }
    });
    let generated = match shared.etc_files {
        Some(files) => Ok(files),
        None => write_generated_files(
            &dir,
            &hostname,
            private_network,
            slirp.is_some(),
            &dns,
            &a.add_host,
            &user_nets,
        ),
    };
    let generated = match generated {
        // --no-hosts: the image's own /etc/hosts stays.
        Ok(mut g) => {
            g.retain(|(_, to)| !(a.no_hosts && to == Path::new("/etc/hosts")));
            g
        }
        Err(e) => {
            abandon(&dir, a.cidfile.as_deref());
            return Err(e);
        }
    };
    let workdir =
        a.workdir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or(if defaults.workdir.is_empty() {
                "/".into()
            } else {
                defaults.workdir
            });
    let mut generated = generated;
    let layers: Vec<PathBuf> = if lower.is_empty() {
        vec![layers_dir.clone()]
    } else {
        lower.iter().map(|l| layers_dir.join(l)).collect()
    };
    let destinations: Vec<&Path> = user_mounts
        .iter()
        .filter_map(MountOp::target)
        .map(PathBuf::as_path)
        .collect();
    let keep = keep_id.then(|| {
        let home = keepid::home(keep_ids.0, &workdir, &destinations);
        (keep_ids.0, keep_ids.1, home)
    });
    match keepid::etc_entries(keep, a.user.as_deref(), &workdir, &a.more)
        .and_then(|e| keepid::files(&dir, &layers, &e))
    {
        Ok(files) => generated.extend(files),
        Err(e) => {
            abandon(&dir, a.cidfile.as_deref());
            return Err(e);
        }
    }
    if let Some(zone) = &extra.zone {
        match runopts::zone_mount(&dir, zone) {
            Ok(m) => generated.push(m),
            Err(e) => {
                abandon(&dir, a.cidfile.as_deref());
                return Err(e);
            }
        }
    }
    let rootfs = match &a.rootfs {
        Some(d) => RootFs::Dir(d.canonicalize()?),
        None => RootFs::Layers(Layers {
            layers_dir,
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            driver,
            writeback,
            id_view,
        }),
    };
    let env = env::assemble(&a, defaults.env, user_env);
    let spec = ContainerSpec {
        rootfs,
        merged: dir.join("merged"),
        plan: plan::plan(&PlanInput {
            readonly_root: a.read_only,
            readonly_tmpfs: a.read_only_tmpfs,
            generated,
            user: user_mounts,
            privileged: a.privileged,
        }),
        hostname,
        private_network,
        slirp,
        user_networks: (!user_nets.is_empty()).then(|| UserNetSpec {
            store: ctx.root.clone(),
            container: config.id.as_str().to_string(),
            attachments: user_nets
                .iter()
                .enumerate()
                .map(|(i, n)| rless::network::Attachment {
                    network: n.name.clone(),
                    aliases: [config.name.clone(), config.id.short().to_string()]
                        .into_iter()
                        .chain(a.network_alias.iter().cloned())
                        .chain(per_net.aliases(&n.name))
                        .collect(),
                    ip: per_net.ip(&n.name).or(if i == 0 { user_ip } else { None }),
                })
                .collect(),
            ports: user_ports,
            dns: dns.servers.clone(),
        }),
        process: ProcessSpec {
            args,
            env: dedup_env(env),
            cwd: workdir,
            user: match (&a.user, keep_id) {
                (Some(u), _) => u.clone(),
                // keep-id: the caller is themselves inside, not root
                // (with keep-id:uid=N,gid=N, as those ids).
                (None, true) => format!("{}:{}", keep_ids.0, keep_ids.1),
                (None, false) => defaults.user,
            },
            tty: a.tty,
            // `-a` without stdin: the caller's input is not passed on.
            stdin: a.interactive && extra.options.takes_stdin(),
            caps,
            no_new_privs,
            seccomp: match image_profile {
                Some(p) if matches!(seccomp, SeccompMode::Default) => SeccompMode::Profile(p),
                _ => seccomp,
            },
            rlimits,
            group_add: a.group_add.clone(),
            umask,
            oom_score_adj: a.oom_score_adj,
            unset_defaults: if a.unsetenv_all {
                vec!["*".into()]
            } else {
                a.unsetenv.clone()
            },
            secret_env,
            personality: more.personality,
            preserve_fds: 0,
        },
        ids: ctx.ids.clone(),
        keep_id,
        keep_id_as,
        id_maps,
        cgroup,
        namespaces: shared.ns,
        sysctls,
        hooks: None,
        cgroupns_private: more.cgroupns_private,
        infra: a.pod_infra,
    };
    let mut spec = spec;
    if let Err(e) = cdi::add_hooks(
        cdi_devices.as_ref(),
        config.id.as_str(),
        &dir,
        &mut spec,
        &annotations,
    ) {
        abandon(&dir, a.cidfile.as_deref());
        return Err(e);
    }
    container::write_spec(&dir, &spec)?;
    // Only this run passes descriptors on (not the spec a `start` reads).
    spec.process.preserve_fds = more.preserve_fds;
    for w in cgroup_warning.iter().chain(&more.warnings) {
        eprintln!("rless: warning: {w}");
    }
    if create_only {
        println!("{}", config.id);
        return Ok(ExitCode::SUCCESS);
    }
    // A fresh container whose requirements (`--requires`, its pod's
    // infra container) fail to start goes, as one that fails to start
    // itself (`Fresh::Yes`): `run --rm` leaves nothing behind.
    if let Err(e) = crate::commands::pod::start_required(ctx, &config) {
        abandon(&dir, a.cidfile.as_deref());
        return Err(e);
    }
    if a.detach {
        return detach(&spec, &dir, &config, Fresh::Yes, pods_held);
    }
    // As docker's: with neither stdout nor stderr attached, the id.
    if !extra.options.shows(false) && !extra.options.shows(true) {
        println!("{}", config.id);
    }
    // Detach keys need a monitor of its own, which the container runs on
    // under when they are typed (the foreground monitor would end it).
    let detach_keys = spec.process.tty
        && spec.process.stdin
        && a.detach_keys.as_deref().is_some_and(|k| !k.is_empty());
    if !a.sig_proxy || detach_keys {
        return run_unproxied(&spec, &dir, &config, Fresh::Yes, pods_held);
    }
    attach(&spec, &dir, &config, Fresh::Yes, pods_held)
}

mod args;
mod cdi;
mod env;
mod idmaps;
mod keepid;
pub(crate) mod limitargs;
mod monitor;
pub(crate) mod moreopts;
pub(crate) use moreopts::check_preserve_fds;
mod netalias;
mod netopts;
mod nsopts;
mod options;
mod podopts;
mod pulling;
pub(crate) mod recreate;
mod replace;
mod runopts;
mod secrets;
pub use args::Args;
use args::ImageDefaults;
pub use monitor::run_unproxied;
pub use monitor::{attach, detach, detach_quiet, Fresh};
use netopts::*;
use nsopts::*;
use options::*;
pub(crate) use options::{host_env, read_env_file};
use pulling::{ensure_image, PullPolicy};
pub use secrets::BUILD_SECRET_ENV;
