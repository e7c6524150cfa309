//! `rless kube play|down|generate` (podman's; also `play kube [--down]`
//! and `generate kube`): run a pod from Kubernetes YAML, remove it, and
//! write a pod or container as such YAML.
//!
//! Theory of operation. `kube play` reads the whole file first
//! (`kube_yaml`: a bad document makes nothing), checks the hostPath
//! volumes' types, stores the file's Secrets as secrets of the user,
//! makes the named volumes of its PersistentVolumeClaim documents
//! (`rless volume create`), then makes each pod through child `rless pod
//! create` and `rless create` (the same checks, pulls and one-line errors
//! as those commands; `create` enters the user namespace itself), and
//! starts it with `rless pod start`, after its `initContainers` each ran
//! to its end (`rless run --rm --pod`, in order). Should one step fail,
//! every pod and volume this command made is removed again (`pod rm -f`),
//! the secrets it made go and those it replaced get their data back, and
//! the child's error line is the command's. `kube down` is `pod rm -f` of
//! the file's pods (each must exist, as podman's; its emptyDir volumes go,
//! its claims' volumes stay, but with `--force` those `kube play` made,
//! which carry the label [`MADE_BY_PLAY`]). `generate kube` reads the
//! stored containers (config and runtime spec) and prints a `kind: Pod`
//! per pod, and one holding every container named, that `kube play` reads
//! back.

use super::kube_data::VolFile;
use super::kube_yaml::{self, HostCheck, PodPlan};
use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use rless::container::{self, pod, secret, secret_journal};
use rless::image::store::LockMode;
use rless::runtime::plan::MountOp;
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Make and start the pods of a Kubernetes YAML file (kind Pod or Deployment).
    Play(PlayArgs),
    /// Remove the pods a Kubernetes YAML file names.
    Down(DownArgs),
    /// Print Kubernetes YAML (kind Pod) for containers or pods.
    Generate(GenerateArgs),
}

/// `play kube`, podman 3's spelling.
#[derive(clap::Subcommand)]
pub enum PlayCmd {
    /// Make and start the pods of a Kubernetes YAML file (`kube play`).
    Kube(PlayArgs),
}

#[derive(clap::Args)]
pub struct PlayArgs {
    /// Start the pods (default true; --start=false only makes them).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    start: Option<bool>,
    /// Remove an existing pod of the same name first.
    #[arg(long)]
    replace: bool,
    /// Remove the file's pods instead (`kube down`).
    #[arg(long)]
    down: bool,
    /// With --down: remove the volumes of the file's claims that kube play made too.
    #[arg(long, requires = "down")]
    force: bool,
    /// The YAML file (`-`: standard input).
    file: String,
}

#[derive(clap::Args)]
pub struct DownArgs {
    /// Remove the volumes of the file's claims that kube play made too.
    #[arg(long)]
    force: bool,
    /// The YAML file (`-`: standard input).
    file: String,
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Containers or pods.
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Play(a) => play(ctx, a),
        Cmd::Down(a) => down(ctx, &a.file, a.force),
        Cmd::Generate(a) => generate(ctx, a),
    }
}

pub fn play_kube(ctx: &Ctx, cmd: PlayCmd) -> Result<ExitCode> {
    let PlayCmd::Kube(a) = cmd;
    play(ctx, a)
}

/// A child `rless ARGS`: its output, or its error line.
fn rless(ctx: &Ctx, args: &[String]) -> Result<String> {
    rless_env(ctx, args, &[])
}

/// [`rless`] of a `create` or `run` whose variables from Secrets (`env`)
/// stay out of its command line, which other users see, off the disk, and
/// out of the child's own environment (a Secret's key named PATH, HOME or
/// RLESS_* would change the child rless): they are the child's hidden
/// `--env-file0 /dev/stdin`, `KEY=VALUE` entries ended by NUL bytes (a
/// value may hold line breaks), written into a pipe (no file to remove,
/// whichever way the play ends).
fn rless_env(ctx: &Ctx, args: &[String], env: &[(String, String)]) -> Result<String> {
    super::child::outcome(child(ctx, args, env)?)
}

/// The child `rless ARGS` of [`rless_env`], run to its end.
fn child(ctx: &Ctx, args: &[String], env: &[(String, String)]) -> Result<std::process::Output> {
    use std::process::Stdio;
    let mut cmd = super::child::command(ctx)?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut env_text = None;
    if let Some((first, rest)) = args.split_first().filter(|_| !env.is_empty()) {
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\0")).collect();
        cmd.arg(first)
            .arg("--env-file0")
            .arg("/dev/stdin")
            .stdin(Stdio::piped())
            .args(rest);
        env_text = Some(text);
    } else {
        cmd.args(args);
    }
    let mut proc = cmd.spawn().context("cannot run rless")?;
    if let (Some(text), Some(mut stdin)) = (env_text, proc.stdin.take()) {
        // Written while the child runs (a pipe holds only so much); a
        // child that fails before it reads them ends the writing.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    proc.wait_with_output().context("cannot run rless")
}

fn check_host_paths(plans: &[PodPlan]) -> Result<()> {
    for (path, check) in plans.iter().flat_map(|p| &p.host_paths) {
        let meta = std::fs::metadata(path);
        match check {
            HostCheck::Directory if !meta.as_ref().is_ok_and(|m| m.is_dir()) => {
                bail!("hostPath {path} is not a directory (type Directory)")
            }
            HostCheck::File if !meta.as_ref().is_ok_and(|m| m.is_file()) => {
                bail!("hostPath {path} is not a file (type File)")
            }
            HostCheck::DirectoryOrCreate if meta.is_err() => std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create hostPath {path}"))?,
            HostCheck::FileOrCreate if meta.is_err() => {
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create hostPath {path}"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The label of a claim's volume `kube play` made (a
/// PersistentVolumeClaim's, or a persistentVolumeClaim's it did not find):
/// `kube down --force` removes those alone, never a volume that was there
/// before.
const MADE_BY_PLAY: &str = "io.rless.kube.play";

fn volume_exists(ctx: &Ctx, name: &str) -> bool {
    ctx.root.join("volumes").join(name).exists()
}

fn play(ctx: &Ctx, a: PlayArgs) -> Result<ExitCode> {
    if a.down {
        return down(ctx, &a.file, a.force);
    }
    let file = kube_yaml::read_file(&a.file, &|n| stored_secret(ctx, n), false)?;
    let plans = file.pods;
    for w in file.warnings {
        eprintln!("rless: warning: {w}");
    }
    if a.start == Some(false) {
        if let Some(p) = plans.iter().find(|p| !p.init.is_empty()) {
            bail!(
                "pod {}: initContainers run when kube play starts the pod: not with --start=false",
                p.name
            );
        }
    }
    check_host_paths(&plans)?;
    for p in &plans {
        if !a.replace && pod::read(&ctx.root, &p.name).is_ok() {
            bail!("pod {} already exists (--replace removes it first)", p.name);
        }
    }
    let mut made_pods: Vec<String> = Vec::new();
    let mut made_volumes: Vec<String> = Vec::new();
    // What the file's Secrets changed in the secret store, undone should
    // the play fail or be killed (`secret_journal`).
    let mut journal: Option<secret_journal::Journal> = None;
    let mut out = String::new();
    let result = (|| -> Result<()> {
        // The PersistentVolumeClaims' volumes first (podman's), each
        // listed; one already there is used as it is (podman 4.4's).
        for c in &file.claim_docs {
            if !volume_exists(ctx, &c.name) {
                let mut args = words(&["volume", "create"]);
                if let Some(d) = &c.driver {
                    args.push(format!("--driver={d}"));
                }
                args.push(format!("--label={MADE_BY_PLAY}=true"));
                for (k, v) in &c.labels {
                    args.push(format!("--label={k}={v}"));
                }
                for (k, v) in &c.options {
                    args.push(format!("--opt={k}={v}"));
                }
                args.extend(["--".to_string(), c.name.clone()]);
                rless(ctx, &args).with_context(|| format!("cannot create volume {}", c.name))?;
                made_volumes.push(c.name.clone());
            }
            if out.is_empty() {
                out.push_str("Volumes:\n");
            }
            out.push_str(&format!("{}\n", c.name));
        }
        // The file's Secrets as secrets of the store (one of the same
        // name is replaced, as podman's), listed after the volumes, as
        // podman's (4.5 on: 4.3 lists none).
        if !file.secrets.is_empty() {
            let _lock = secret::lock(&ctx.root)?;
            let j = journal.insert(
                secret_journal::Journal::begin(&ctx.root)
                    .context("cannot keep the secrets the play changes")?,
            );
            out.push_str("Secrets:\n");
            for (name, yaml) in &file.secrets {
                let old = secret::find(&ctx.root, name)
                    .ok()
                    .filter(|s| &s.name == name)
                    .map(|s| {
                        let bytes = secret::data(&ctx.root, &s)
                            .with_context(|| format!("cannot read secret {name}"))?;
                        Ok::<_, anyhow::Error>((s, bytes))
                    })
                    .transpose()?;
                j.note(
                    name,
                    yaml.as_bytes(),
                    old.as_ref().map(|(m, b)| (m, &b[..])),
                )
                .with_context(|| format!("cannot keep secret {name}"))?;
                let meta =
                    secret::create(&ctx.root, name, yaml.as_bytes(), Default::default(), true)
                        .with_context(|| format!("cannot store Secret {name}"))?;
                out.push_str(&format!("{}\n", meta.id));
            }
        }
        for p in &plans {
            if a.replace && pod::read(&ctx.root, &p.name).is_ok() {
                rless(ctx, &words(&["pod", "rm", "-f", &p.name]))
                    .with_context(|| format!("cannot remove pod {}", p.name))?;
            }
            for v in p.volumes.iter().chain(&p.claims) {
                if !volume_exists(ctx, v) && !made_volumes.contains(v) {
                    let mut args = words(&["volume", "create"]);
                    if p.claims.contains(v) {
                        args.push(format!("--label={MADE_BY_PLAY}=true"));
                    }
                    args.extend(["--".to_string(), v.clone()]);
                    rless(ctx, &args).with_context(|| format!("cannot create volume {v}"))?;
                    made_volumes.push(v.clone());
                }
            }
            for (v, files) in &p.files {
                write_files(ctx, v, files)?;
            }
            let no_env = Vec::new();
            let env_of = |name: &str| p.secret_env.get(name).unwrap_or(&no_env);
            let mut args = words(&["pod", "create"]);
            args.extend(p.pod_args.iter().cloned());
            let id = rless(ctx, &args).with_context(|| format!("cannot create pod {}", p.name))?;
            made_pods.push(p.name.clone());
            out.push_str(&format!("Pod:\n{id}\n"));
            out.push_str(match p.containers.len() {
                1 => "Container:\n",
                _ => "Containers:\n",
            });
            for (name, cargs) in &p.containers {
                let mut args = words(&["create"]);
                args.extend(cargs.iter().cloned());
                let id = rless_env(ctx, &args, env_of(name))
                    .with_context(|| format!("cannot create container {name}"))?;
                out.push_str(&format!("{id}\n"));
            }
            if a.start.unwrap_or(true) {
                for (name, iargs) in &p.init {
                    run_init(ctx, name, iargs, env_of(name))?;
                }
                rless(ctx, &words(&["pod", "start", &p.name]))
                    .with_context(|| format!("cannot start pod {}", p.name))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        // The secret store as it was: new secrets go, replaced ones get
        // their data back.
        if let Some(j) = journal {
            match secret::lock(&ctx.root) {
                Err(e) => {
                    eprintln!("rless: warning: cannot put the secrets back as they were: {e}")
                }
                Ok(_lock) => {
                    for e in j.roll_back(&ctx.root) {
                        eprintln!("rless: warning: cannot put a secret back as it was: {e}");
                    }
                }
            }
        }
        // Nothing of a failed play stays.
        for name in made_pods.iter().rev() {
            if let Err(e) = rless(ctx, &words(&["pod", "rm", "-f", name])) {
                eprintln!("rless: warning: cannot remove pod {name} again: {e}");
            }
        }
        for v in &made_volumes {
            if let Err(e) = rless(ctx, &words(&["volume", "rm", "-f", v])) {
                eprintln!("rless: warning: cannot remove volume {v} again: {e}");
            }
        }
        return Err(e);
    }
    if let Some(j) = journal {
        j.commit();
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A configMap or secret volume's files, written into its named volume
/// (as the user: the containers' root owns them), each of its mode.
fn write_files(ctx: &Ctx, vol: &str, files: &[VolFile]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let data = rless::container::volume::data_dir(&ctx.root, vol);
    for f in files {
        let dest = data.join(&f.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&dest, &f.data)
            .and_then(|()| std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(f.mode)))
            .with_context(|| format!("cannot write {}", dest.display()))?;
    }
    Ok(())
}

/// The data of the store's secret named `name` (not an id's prefix).
fn stored_secret(ctx: &Ctx, name: &str) -> Option<Vec<u8>> {
    let s = secret::find(&ctx.root, name)
        .ok()
        .filter(|s| s.name == name)?;
    secret::data(&ctx.root, &s).ok()
}

/// An init container, run to its end (`run --rm`): an exit but 0 fails
/// the play.
fn run_init(ctx: &Ctx, name: &str, args: &[String], env: &[(String, String)]) -> Result<()> {
    let mut all = words(&["run", "--rm", "-q"]);
    all.extend(args.iter().cloned());
    let out = child(ctx, &all, env)?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    match err
        .lines()
        .rev()
        .find(|l| l.starts_with("rless: ") && !l.starts_with("rless: warning"))
    {
        Some(l) => bail!("init container {name}: {}", &l["rless: ".len()..]),
        None => bail!(
            "init container {name} exited with code {}",
            out.status.code().unwrap_or(-1)
        ),
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn down(ctx: &Ctx, file: &str, force: bool) -> Result<ExitCode> {
    let kf = kube_yaml::read_file(file, &|n| stored_secret(ctx, n), true)?;
    let plans = kf.pods;
    // podman's: a pod of the file that is not there fails the command
    // before anything is removed.
    if let Some(p) = plans
        .iter()
        .find(|p| pod::read(&ctx.root, &p.name).is_err())
    {
        bail!("no pod with name or ID {} found: no such pod", p.name);
    }
    let mut removed = Vec::new();
    for p in &plans {
        if pod::read(&ctx.root, &p.name).is_ok() {
            let id = rless(ctx, &words(&["pod", "rm", "-f", &p.name]))
                .with_context(|| format!("cannot remove pod {}", p.name))?;
            removed.push(id);
        }
        for v in &p.volumes {
            if volume_exists(ctx, v) {
                rless(ctx, &words(&["volume", "rm", "-f", v]))
                    .with_context(|| format!("cannot remove volume {v}"))?;
            }
        }
    }
    // The file's Secrets (podman's; one not there is passed over).
    let mut secrets = Vec::new();
    if !kf.secrets.is_empty() {
        let _lock = secret::lock(&ctx.root)?;
        for (name, _) in &kf.secrets {
            if let Some(s) = secret::find(&ctx.root, name)
                .ok()
                .filter(|s| &s.name == name)
            {
                secret::remove(&ctx.root, &s)?;
                secrets.push(s.id);
            }
        }
    }
    // --force: the volumes of its claims too (podman 4.4's) that `kube
    // play` made, not one another container uses.
    let mut volumes = Vec::new();
    for v in kf.claims.iter().filter(|_| force) {
        let made = rless::container::volume::read(&ctx.root, v)
            .is_ok_and(|m| m.labels.contains_key(MADE_BY_PLAY));
        if made {
            rless(ctx, &words(&["volume", "rm", v]))
                .with_context(|| format!("cannot remove volume {v}"))?;
            volumes.push(v.clone());
        }
    }
    if !removed.is_empty() {
        println!("Pods stopped:\n{}", removed.join("\n"));
        println!("Pods removed:\n{}", removed.join("\n"));
    }
    if !secrets.is_empty() {
        println!("Secrets removed:\n{}", secrets.join("\n"));
    }
    if !volumes.is_empty() {
        println!("Volumes removed:\n{}", volumes.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(ctx: &Ctx, a: GenerateArgs) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let mut docs = Vec::new();
    // The containers named (not pods): together one pod, as podman's.
    let mut lone: Vec<container::ContainerConfig> = Vec::new();
    for name in &a.names {
        match pod::read(&ctx.root, name) {
            Ok(p) => {
                let members: Vec<_> = pod::members(&ctx.root, &p)
                    .into_iter()
                    .filter(|c| Some(c.id.as_str()) != p.infra.as_deref())
                    .collect();
                if members.is_empty() {
                    bail!("pod {} has no containers to generate", p.name);
                }
                let ports = match &p.infra {
                    Some(i) => ports_of(&ctx.root.join("containers").join(i)),
                    None => Vec::new(),
                };
                let doc = pod_doc(&store, &p.name, &p.labels, &members, vec![ports], &p.name)?;
                docs.push(kube_yaml::to_yaml(&doc));
            }
            Err(_) => {
                let (c, _) = container::find(&store, name)?;
                // podman's: a pod's member is generated with its pod.
                if let Some(p) = c.pod.as_deref() {
                    let pod = pod::by_id(&ctx.root, p).map_or_else(|| p.to_string(), |p| p.name);
                    bail!(
                        "container {} is associated with pod {pod}: use generate on the pod itself",
                        c.id.as_str()
                    );
                }
                if !lone.iter().any(|l| l.id == c.id) {
                    lone.push(c);
                }
            }
        }
    }
    if let Some(first) = lone.first() {
        // Each keeps its own ports; the first one's labels win.
        let ports = lone
            .iter()
            .map(|c| ports_of(&ctx.root.join("containers").join(c.id.as_str())))
            .collect();
        let mut labels = std::collections::BTreeMap::new();
        for c in lone.iter().rev() {
            labels.extend(own_labels(&store, c));
        }
        let name = format!("{}-pod", first.name);
        let doc = pod_doc(&store, &name, &labels, &lone, ports, "")?;
        docs.push(kube_yaml::to_yaml(&doc));
    }
    print!("# Generated by rless\n{}", docs.join("---\n"));
    Ok(ExitCode::SUCCESS)
}

/// The image's config (`config` of its config blob), if it is stored.
fn image_config(store: &rless::image::store::Store, c: &container::ContainerConfig) -> Value {
    format!("sha256:{}", c.image_id.trim_start_matches("sha256:"))
        .parse()
        .ok()
        .and_then(|d| store.read_blob(&d).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("config").cloned())
        .unwrap_or(Value::Null)
}

/// A container's labels less its image's.
fn own_labels(
    store: &rless::image::store::Store,
    c: &container::ContainerConfig,
) -> std::collections::BTreeMap<String, String> {
    let img = image_config(store, c);
    c.labels
        .iter()
        .filter(|(k, v)| img["Labels"][k.as_str()].as_str() != Some(v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A container's published ports as Kubernetes `ports` entries.
fn ports_of(dir: &std::path::Path) -> Vec<Value> {
    let Ok(sp) = container::read_spec(dir) else {
        return Vec::new();
    };
    sp.slirp
        .iter()
        .flat_map(|s| &s.ports)
        .chain(sp.user_networks.iter().flat_map(|u| &u.ports))
        .map(|p| {
            let mut m = Map::new();
            m.insert("containerPort".into(), p.container_port.into());
            // A port bound where the host picked one: none asked for.
            if p.host_port != 0 {
                m.insert("hostPort".into(), p.host_port.into());
            }
            if !p.host_ip.is_unspecified() {
                m.insert("hostIP".into(), p.host_ip.to_string().into());
            }
            if p.udp {
                m.insert("protocol".into(), "UDP".into());
            }
            Value::Object(m)
        })
        .collect()
}

/// A `kind: Pod` of these containers; `ports[i]` go to the i-th one.
fn pod_doc(
    store: &rless::image::store::Store,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    members: &[container::ContainerConfig],
    mut ports: Vec<Vec<Value>>,
    pod_name: &str,
) -> Result<Value> {
    let mut containers = Vec::new();
    let mut volumes: Vec<Value> = Vec::new();
    for (i, c) in members.iter().enumerate() {
        let dir = store.root().join("containers").join(c.id.as_str());
        let sp = container::read_spec(&dir).map_err(|e| anyhow!("container {}: {e}", c.name))?;
        let img = image_config(store, c);
        let img_env: Vec<&str> = img["Env"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let short = c
            .name
            .strip_prefix(&format!("{pod_name}-"))
            .filter(|_| !pod_name.is_empty())
            .unwrap_or(&c.name);
        let mut m = Map::new();
        m.insert("name".into(), short.into());
        m.insert("image".into(), c.image_name.clone().into());
        m.insert("command".into(), json!(sp.process.args));
        let env: Vec<Value> = sp
            .process
            .env
            .iter()
            .filter(|e| !img_env.contains(&e.as_str()))
            .filter(|e| {
                !["HOSTNAME=", "container=", "TERM=", "HOME="]
                    .iter()
                    .any(|p| e.starts_with(p))
            })
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        if !env.is_empty() {
            m.insert("env".into(), env.into());
        }
        let img_wd = img["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/");
        if !sp.process.cwd.is_empty() && sp.process.cwd != img_wd {
            m.insert("workingDir".into(), sp.process.cwd.clone().into());
        }
        let (u, g) = sp
            .process
            .user
            .split_once(':')
            .unwrap_or((&sp.process.user, ""));
        let mut sc = Map::new();
        if let Ok(u) = u.parse::<u32>() {
            sc.insert("runAsUser".into(), u.into());
        }
        if let Ok(g) = g.parse::<u32>() {
            sc.insert("runAsGroup".into(), g.into());
        }
        if !sc.is_empty() {
            m.insert("securityContext".into(), sc.into());
        }
        let own_ports = ports.get_mut(i).map(std::mem::take).unwrap_or_default();
        if !own_ports.is_empty() {
            m.insert("ports".into(), own_ports.into());
        }
        let mut mounts = Vec::new();
        for op in &c.mounts {
            match op {
                MountOp::Bind {
                    source,
                    target,
                    readonly,
                } => {
                    let vname = volume_name(&source.to_string_lossy(), volumes.len());
                    let kind = if source.is_dir() { "Directory" } else { "File" };
                    volumes
                        .push(json!({"name": vname, "hostPath": {"path": source, "type": kind}}));
                    let mut vm = json!({"name": vname, "mountPath": target});
                    if *readonly {
                        vm["readOnly"] = true.into();
                    }
                    mounts.push(vm);
                }
                MountOp::Volume {
                    name: vol,
                    target,
                    readonly,
                    anonymous: false,
                    ..
                } => {
                    // podman's: a named volume is a claim of that name.
                    let vname = format!("{vol}-pvc");
                    if !volumes.iter().any(|v| v["name"] == vname.as_str()) {
                        volumes.push(
                            json!({"name": vname, "persistentVolumeClaim": {"claimName": vol}}),
                        );
                    }
                    let mut vm = json!({"name": vname, "mountPath": target});
                    if *readonly {
                        vm["readOnly"] = true.into();
                    }
                    mounts.push(vm);
                }
                MountOp::Tmpfs {
                    target,
                    options,
                    readonly,
                } => {
                    let vname = format!("tmpfs-{}", volumes.len());
                    let mut ed = json!({"medium": "Memory"});
                    if let Some(q) = options
                        .split(',')
                        .find_map(|o| o.strip_prefix("size="))
                        .and_then(quantity)
                    {
                        ed["sizeLimit"] = q.into();
                    }
                    volumes.push(json!({"name": vname, "emptyDir": ed}));
                    let mut vm = json!({"name": vname, "mountPath": target});
                    if *readonly {
                        vm["readOnly"] = true.into();
                    }
                    mounts.push(vm);
                }
                MountOp::Volume { target, .. } => {
                    eprintln!(
                        "rless: warning: container {}: the anonymous volume at {} is left out",
                        c.name,
                        target.display()
                    );
                }
                _ => {}
            }
        }
        if !mounts.is_empty() {
            m.insert("volumeMounts".into(), mounts.into());
        }
        containers.push(Value::Object(m));
    }
    let restart = match members[0].restart {
        container::RestartPolicy::Always | container::RestartPolicy::UnlessStopped => "Always",
        container::RestartPolicy::OnFailure(_) => "OnFailure",
        container::RestartPolicy::No => "Never",
    };
    let mut spec = json!({"containers": containers, "restartPolicy": restart});
    if !volumes.is_empty() {
        spec["volumes"] = volumes.into();
    }
    let mut meta = json!({"name": name});
    if !labels.is_empty() {
        meta["labels"] = json!(labels);
    }
    Ok(json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}))
}

/// A volume name Kubernetes takes (lower-case letters, digits, '-') for a
/// host path, podman's way: the path's words, then `-host-N`.
fn volume_name(path: &str, n: usize) -> String {
    let words: String = path
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let words = words.trim_matches('-');
    let words: String = words.chars().take(40).collect();
    let words = words.trim_end_matches('-');
    if words.is_empty() {
        format!("host-{n}")
    } else {
        format!("{words}-host-{n}")
    }
}

/// A tmpfs `size=` (bytes, or with k, m, g) as a Kubernetes quantity.
fn quantity(size: &str) -> Option<String> {
    let (n, unit) = match size.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&size[..i], Some(c.to_ascii_lowercase())),
        _ => (size, None),
    };
    let n: u64 = n.parse().ok()?;
    match unit {
        None => Some(n.to_string()),
        Some('k') => Some(format!("{n}Ki")),
        Some('m') => Some(format!("{n}Mi")),
        Some('g') => Some(format!("{n}Gi")),
        _ => None,
    }
}
