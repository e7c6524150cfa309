//! `rless build [-t NAME]… [-f FILE] [--build-arg K=V]… [-q] [--network
//! MODE] [--no-cache] [--layers=BOOL] CONTEXT` (and `image build`): an
//! image from a Containerfile.
//!
//! Theory of operation: the file is read whole first ([`parse`], with
//! its heredocs' bodies, [`heredoc`]); every
//! instruction is checked before anything runs, so an unknown or
//! unsupported one fails the build naming its line with nothing made.
//! The build then walks the instructions keeping the image config in
//! memory. A step that changes files makes a step container from the
//! current image and commits it with the commands rless already has
//! ([`steps`]): RUN is `rless run`, COPY, ADD and WORKDIR are `rless
//! create` and `rless build-copy` ([`helper`]) fed a tar stream of the
//! context ([`context`], [`ignore`]; an ADD of a URL is downloaded first,
//! [`fetch`]). Each commit is an intermediate image
//! the next step starts from. Metadata instructions only change the
//! in-memory config, applied with `commit --change`'s code
//! ([`rless::image::change`]). At the end the config, with the layers of
//! the last intermediate image and one history entry per step, is stored
//! as the new image, and the step containers are removed (also when a
//! step fails or the build is interrupted). The intermediate images of
//! the steps stay as the build cache ([`cache`]): a later build takes a
//! step made from the same state with the same inputs from it instead of
//! running it; with `--layers=false` they are removed too. Each
//! `FROM` starts a stage ([`Stage`], [`from`]); a later `FROM NAME` or `COPY
//! --from=NAME` uses an earlier one as it ended ([`copy`]); the last stage
//! (or `--target`'s) is the image, and only the stages it needs run
//! ([`stages`]).

mod add_tar;
mod args;
mod cache;
mod check;
mod context;
mod copy;
mod fetch;
mod flags;
mod from;
mod glob;
mod helper;
mod heredoc;
mod ignore;
mod moreflags;
mod mounts;
mod parents;
mod parse;
mod record;
mod run_mounts;
mod run_step;
mod stages;
mod steps;

pub use cache::{cache_images, tidy as tidy_cache};
pub use glob::{helper as glob_helper, GlobArgs};
pub use helper::{run as copy_helper, HelperArgs};
pub use mounts::prune as prune_mount_caches;
pub use record::{commit_made, live_images};

use super::Ctx;
use anyhow::{anyhow, bail, Context as _, Result};
use parse::{Form, Instruction};
use rless::image::change;
use rless::image::find_image;
use rless::image::store::LockMode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use steps::Children;

#[derive(clap::Args)]
pub struct Args {
    /// Name the image (may be given more than once).
    #[arg(short, long)]
    tag: Vec<String>,
    /// The Containerfile (default: CONTEXT/Containerfile, else
    /// CONTEXT/Dockerfile; `-`: standard input).
    #[arg(short, long)]
    file: Option<PathBuf>,
    /// A build argument, NAME=VALUE (NAME alone takes the caller's value).
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_arg: Vec<String>,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// The network of RUN steps: default (a private userspace network, as
    /// `run`), host or none.
    #[arg(long, default_value = "default")]
    network: String,
    /// Run every step: take nothing from the build cache (the steps'
    /// results are kept in it for later builds).
    #[arg(long)]
    no_cache: bool,
    /// Keep the steps' intermediate images as the build cache, and use it
    /// (the default); `--layers=false`: neither.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    layers: bool,
    /// Build up to this stage (its `AS` name) and make it the image; only
    /// the stages it needs are built.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// A secret for `RUN --mount=type=secret`: id=ID,src=FILE or
    /// id=ID,env=VARIABLE (docker's; never kept in the image).
    #[arg(long, value_name = "id=ID,src=FILE")]
    secret: Vec<String>,
    #[command(flatten)]
    extra: Box<flags::Extra>,
    /// The build context: the directory COPY and ADD read from (default:
    /// the current directory, as podman's).
    #[arg(default_value = ".")]
    context: PathBuf,
}

/// Instructions that only change the config, applied with `--change`'s code.
const METADATA: [&str; 6] = ["ENV", "LABEL", "EXPOSE", "VOLUME", "STOPSIGNAL", "USER"];

/// Build arguments a RUN gets without an ARG, when given (as docker's
/// predefined ARGs; they are not kept in the history).
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A failed build: its message, printed as `rless: …`, and exit code.
struct Failed(String, u8);

/// The build was asked to stop (Ctrl-C, SIGTERM, SIGHUP): 128+signal.
fn interrupted() -> Option<Failed> {
    steps::stopped().map(|sig| Failed("build interrupted".into(), 128 + sig as u8))
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let network = match a.network.as_str() {
        "default" | "" | "slirp" | "private" => None,
        "host" | "none" => Some(a.network.clone()),
        other => bail!("unknown --network {other:?} for build: use default, host or none"),
    };
    let extra = a.extra.check()?;
    // podman's --manifest: a bad list name makes nothing.
    if let Some(l) = &a.extra.more.manifest {
        super::manifest::check_list_for(ctx, l)?;
    }
    let mut names = Vec::new();
    for t in &a.tag {
        // As `tag`: a short name is `localhost/NAME`; a name names no
        // digest (it would be stored as a name).
        let r = rless::image::shortnames::local_name(t)?;
        match r.tagged_name().filter(|_| r.digest.is_none()) {
            Some(n) => names.push(n),
            None => bail!("-t {t:?} must be a name with an optional tag, not a digest"),
        }
    }
    let context = a
        .context
        .canonicalize()
        .with_context(|| format!("build context {}", a.context.display()))?;
    if !context.is_dir() {
        bail!("build context {}: not a directory", a.context.display());
    }
    let file = match &a.file {
        Some(f) => f.clone(),
        None => ["Containerfile", "Dockerfile"]
            .iter()
            .map(|n| context.join(n))
            .find(|p| p.exists())
            .ok_or_else(|| anyhow!("no Containerfile or Dockerfile in {}", a.context.display()))?,
    };
    // `-f -`: the Containerfile on standard input, as docker and podman.
    let stdin = file.as_os_str() == "-";
    let text = if stdin {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .context("cannot read the Containerfile from standard input")?;
        t
    } else {
        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let shown = match file.file_name() {
        _ if stdin => "Containerfile".into(),
        Some(n) => n.to_string_lossy().into_owned(),
        None => "Containerfile".into(),
    };
    let mut build_args = Vec::new();
    for b in &a.build_arg {
        match b.split_once('=') {
            Some(("", _)) => bail!("invalid --build-arg {b:?}"),
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            None => build_args.extend(std::env::var(b).ok().map(|v| (b.clone(), v))),
        }
    }
    // A Containerfile rless cannot read or will not build: podman's 125.
    let fail = |why: String| {
        eprintln!("rless: {}", rless::message::printable(&why));
        Ok(ExitCode::from(check::EXIT_INPUT))
    };
    let mut instructions = match parse::parse(&shown, &text) {
        Ok(i) => i,
        Err(e) => return fail(e.to_string()),
    };
    // podman's `--from`: the first FROM's image, replaced.
    if let Some(image) = &a.extra.more.from {
        if let Some(first) = instructions.iter_mut().find(|i| i.keyword == "FROM") {
            let rest = first.rest.trim_start();
            let after = rest.find(char::is_whitespace).map_or("", |k| &rest[k..]);
            first.rest = format!("{image}{after}");
        }
    }
    if let Err(why) = check::check(&shown, &instructions) {
        return fail(why);
    }
    let secrets = match mounts::check(&shown, &instructions).and_then(|()| {
        a.secret
            .iter()
            .map(|s| mounts::parse_secret(s).map_err(|e| e.to_string()))
            .collect()
    }) {
        Ok(s) => s,
        Err(why) => return fail(why),
    };
    // The ARGs before the first FROM (the FROM lines see them), then
    // which stages run: all checked before anything is made.
    let mut used_args = Vec::new();
    let mut meta_args: Vec<(String, String)> = args::platform_args();
    for ins in instructions.iter().take_while(|i| i.keyword != "FROM") {
        let vars = meta_args.clone();
        if let Err(e) = args::declare(ins, &vars, &[], &build_args, &mut used_args, &mut meta_args)
        {
            return fail(format!("{shown}: line {}: {}", ins.line, e));
        }
    }
    let plan = match stages::plan(&shown, &instructions, &meta_args, a.target.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    steps::catch_signals();
    let mut children = Children::new(Some(ctx.root.clone()));
    // What killed builds left goes first; then this one is written down
    // (in the store, made as the store makes itself, if it is new).
    if let Err(e) = steps::store(ctx, LockMode::Shared) {
        // Stopped while it waited for another process's lock.
        if let Some(Failed(why, code)) = interrupted() {
            eprintln!("rless: {why}");
            return Ok(ExitCode::from(code));
        }
        return Err(e);
    }
    children.sweep(&ctx.root);
    // Scratch directories (heredoc files, mount sources, secrets) of
    // builds that were killed.
    mounts::sweep_scratch(&ctx.root);
    mounts::sweep_secrets();
    children.keep_record(record::Record::begin(&ctx.root)?);
    let mut b = Build {
        ctx,
        children,
        context,
        ignore: match &a.extra.more.ignorefile {
            Some(f) => ignore::Ignore::load_file(f)?,
            None => ignore::Ignore::load(&a.context)?,
        },
        build_args,
        used_args,
        network,
        secrets,
        extra,
        pending: None,
        quiet: a.quiet,
        cache: cache::Cache::new(&ctx.root, !a.no_cache, a.layers),
        total: (0..plan.spans.len())
            .filter(|&s| plan.needed[s] && s <= plan.target)
            .map(|s| plan.spans[s].1 - plan.spans[s].0)
            .sum(),
        at: 0,
        plan,
    };
    let first_name = names.first().map(ToString::to_string).unwrap_or_default();
    let built = b.all(&instructions, &meta_args, names);
    let cleaned = b.children.clean();
    match built {
        Ok(id) => {
            if let Err(e) = cleaned {
                eprintln!("rless: warning: build leftovers: {}", super::error_line(&e));
            }
            let unused: Vec<&str> = b
                .build_args
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !b.used_args.iter().any(|u| u == k) && !PROXY_ARGS.contains(k))
                .collect();
            if !unused.is_empty() {
                eprintln!(
                    "rless: warning: build arguments not used: {}",
                    unused.join(", ")
                );
            }
            rless::events::image(&ctx.root, "build", &id, &first_name);
            if let Some(l) = &a.extra.more.manifest {
                super::manifest::add_built(ctx, l, &id)?;
            }
            if let Some(f) = &a.extra.iidfile {
                flags::write_iidfile(f, &id)?;
            }
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(Failed(why, code)) => {
            if let Err(e) = cleaned {
                eprintln!("rless: warning: build leftovers: {}", super::error_line(&e));
            }
            eprintln!("rless: {}", rless::message::printable(&why));
            Ok(ExitCode::from(code))
        }
    }
}

struct Build<'a> {
    ctx: &'a Ctx,
    children: Children,
    context: PathBuf,
    ignore: ignore::Ignore,
    build_args: Vec<(String, String)>,
    used_args: Vec<String>,
    network: Option<String>,
    /// `--secret`s, by id.
    secrets: Vec<(String, mounts::SecretSource)>,
    /// `--pull`, `--label` and the RUN steps' options ([`flags`]).
    extra: flags::Checked,
    /// The flags of the RUN about to run ([`run_mounts`]).
    pending: Option<run_mounts::Planned>,
    quiet: bool,
    /// The instructions of the stages built.
    total: usize,
    cache: cache::Cache,
    /// The stages, and which are built.
    plan: stages::Plan,
    /// The index of the stage being built.
    at: usize,
}

/// The image being built.
struct Stage {
    /// The whole image config; its `config` object is what changes.
    config: Value,
    /// The image the next step starts from (`None`: scratch, none made yet).
    image: Option<String>,
    /// ARG values in scope.
    args: Vec<(String, String)>,
    /// CMD was set in this build (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// `FROM … AS NAME`, lower-cased.
    name: Option<String>,
    /// The build cache's key of the state so far ([`cache`]).
    cache: String,
    /// Not built: the build's target does not need it.
    skipped: bool,
}

impl Stage {
    fn cfg(&mut self) -> &mut serde_json::Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("object")
    }

    fn shell(&self) -> Vec<String> {
        self.config["config"]["Shell"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// Variables for substitution: ARGs, then the environment (which wins).
    fn vars(&self) -> Vec<(String, String)> {
        let cfg = self.config["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        self.args
            .iter()
            .cloned()
            .chain(change::env_of(&cfg))
            .collect()
    }

    fn workdir(&self) -> String {
        self.config["config"]["WorkingDir"]
            .as_str()
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    fn history(&mut self, created_by: String, empty: bool) {
        let mut e = json!({
            "created": rless::image::time::format_rfc3339(rless::image::time::now()),
            "created_by": created_by,
        });
        if empty {
            e["empty_layer"] = true.into();
        }
        if !self.config["history"].is_array() {
            self.config["history"] = json!([]);
        }
        self.config["history"]
            .as_array_mut()
            .expect("array")
            .push(e);
    }
}

impl Build<'_> {
    fn all(
        &mut self,
        all: &[Instruction],
        meta_args: &[(String, String)],
        names: Vec<String>,
    ) -> Result<String, Failed> {
        let meta_args = meta_args.to_vec();
        let mut stage: Option<Stage> = None;
        // The stages before this one.
        let mut done: Vec<Stage> = Vec::new();
        let mut n = 0;
        // The ARGs before the first FROM are `meta_args` already.
        for (k, ins) in all.iter().enumerate().skip(self.plan.spans[0].0) {
            if let Some(sig) = steps::stopped() {
                return Err(Failed("build interrupted".into(), 128 + sig as u8));
            }
            if ins.keyword == "FROM" {
                let at = self.plan.spans.iter().position(|s| s.0 == k);
                self.at = at.expect("a stage");
                if self.at > self.plan.target {
                    break;
                }
                done.extend(stage.take());
                if !self.plan.needed[self.at] {
                    // Only its name is kept, for the stage indexes.
                    done.push(Stage {
                        config: Value::Null,
                        image: None,
                        args: Vec::new(),
                        cmd_set: false,
                        name: self.plan.names[self.at].clone(),
                        skipped: true,
                        cache: String::new(),
                    });
                }
            }
            if !self.plan.needed[self.at] {
                continue;
            }
            let Some(st) = stage.as_mut() else {
                n += 1;
                self.announce(n, ins);
                stage = Some(
                    self.from(ins, &meta_args, &done)
                        .map_err(|e| self.failed(n, ins, e))?,
                );
                continue;
            };
            n += 1;
            self.announce(n, ins);
            self.step(st, ins, n, &meta_args, &done).map_err(|e| {
                match e.downcast::<StepExit>() {
                    Ok(StepExit(code)) if code > 128 && steps::stopped().is_some() => {
                        Failed("build interrupted".into(), code as u8)
                    }
                    Ok(StepExit(code)) => Failed(
                        format!(
                            "build step {n}/{} {}: exit status {code}",
                            self.total,
                            ins.short_text()
                        ),
                        1,
                    ),
                    Err(e) => self.failed(n, ins, e),
                }
            })?;
        }
        let st = stage.expect("check found a FROM");
        self.finish(st, names).map_err(|e| {
            interrupted().unwrap_or_else(|| Failed(format!("build: {}", super::error_line(&e)), 1))
        })
    }

    fn failed(&self, n: usize, ins: &Instruction, e: anyhow::Error) -> Failed {
        // What fails once the build is asked to stop fails for that.
        if let Some(f) = interrupted() {
            return f;
        }
        Failed(
            format!(
                "build step {n}/{} {}: {}",
                self.total,
                ins.short_text(),
                super::error_line(&e)
            ),
            1,
        )
    }

    fn announce(&self, n: usize, ins: &Instruction) {
        if !self.quiet {
            println!(
                "STEP {n}/{}: {}",
                self.total,
                rless::message::printable(&ins.text())
            );
        }
    }

    /// `ARG NAME[=default]…` in a stage: see [`declare`].
    fn arg(
        &mut self,
        ins: &Instruction,
        vars: &[(String, String)],
        globals: &[(String, String)],
        scope: &mut Vec<(String, String)>,
    ) -> Result<()> {
        args::declare(
            ins,
            vars,
            globals,
            &self.build_args,
            &mut self.used_args,
            scope,
        )
    }

    /// What one instruction but COPY and ADD does.
    fn instruction(
        &mut self,
        st: &mut Stage,
        ins: &Instruction,
        n: usize,
        meta: &[(String, String)],
    ) -> Result<()> {
        let nop = format!("/bin/sh -c #(nop) {}", ins.text());
        match ins.keyword.as_str() {
            "RUN" => self.run_step(st, ins, n),
            "ARG" => {
                let vars = st.vars();
                let mut scope = std::mem::take(&mut st.args);
                self.arg(ins, &vars, meta, &mut scope)?;
                st.args = scope;
                st.history(nop, true);
                Ok(())
            }
            "WORKDIR" => {
                let vars = st.vars();
                change::apply_with(st.cfg(), &format!("WORKDIR {}", ins.rest), &vars)?;
                let dir = st.workdir();
                let owner = self.workdir_owner(st)?;
                let image = self.image_of(st)?;
                let ctr = self.children.create(n, &image)?;
                let created = self.children.copy_in(&ctr, &dir, None, owner, |w| {
                    context::Packer::new(w, None).finish()?;
                    Ok(())
                })?;
                if created {
                    st.image = Some(self.children.commit(&ctr)?);
                } else {
                    self.children.remove_container(&ctr)?;
                }
                st.history(nop, !created);
                Ok(())
            }
            "CMD" | "ENTRYPOINT" => {
                let argv = Form::of(&ins.rest).argv(&st.shell());
                let cmd = ins.keyword == "CMD";
                if cmd {
                    st.cmd_set = true;
                    st.cfg().insert("Cmd".into(), json!(argv));
                } else {
                    st.cfg().insert("Entrypoint".into(), json!(argv));
                    if !st.cmd_set {
                        // As docker: an inherited CMD goes with a new ENTRYPOINT.
                        st.cfg().insert("Cmd".into(), Value::Null);
                    }
                }
                st.history(nop, true);
                Ok(())
            }
            "MAINTAINER" => {
                // The image's author, as docker and podman set it.
                st.config["author"] = ins.rest.clone().into();
                st.history(nop, true);
                Ok(())
            }
            "ONBUILD" => {
                // As podman does for the OCI images it builds by default:
                // an OCI image config has no place for it.
                eprintln!(
                    "rless: warning: line {}: {} is not kept: an OCI image has no place for it",
                    ins.line, ins.keyword
                );
                st.history(nop, true);
                Ok(())
            }
            "HEALTHCHECK" => {
                // Its flags are part of what `--change` reads; the command
                // is kept as written (no expansion), as docker.
                change::apply(st.cfg(), &ins.text()).map_err(|e| anyhow!(e.why))?;
                st.history(nop, true);
                Ok(())
            }
            "SHELL" => {
                let Form::Exec(v) = Form::of(&ins.rest) else {
                    bail!("SHELL needs the JSON form: SHELL [\"executable\", \"parameters\"]");
                };
                if v.is_empty() {
                    bail!("SHELL needs at least the executable");
                }
                st.cfg().insert("Shell".into(), json!(v));
                st.history(nop, true);
                Ok(())
            }
            k if METADATA.contains(&k) => {
                let vars = st.vars();
                change::apply_with(st.cfg(), &format!("{k} {}", ins.rest), &vars)
                    .map_err(|e| anyhow!(e.why))?;
                st.history(nop, true);
                Ok(())
            }
            k => bail!("{k} is not supported"),
        }
    }

    /// The image a step container starts from; for scratch, an image
    /// without layers made once.
    fn image_of(&mut self, st: &mut Stage) -> Result<String> {
        if let Some(i) = &st.image {
            return Ok(i.clone());
        }
        let store = steps::store(self.ctx, LockMode::Shared)?;
        let img = rless::image::commit::store_image(
            &store,
            &st.config,
            vec![],
            0,
            vec![],
            Default::default(),
        )?;
        let id = img.id.hex().to_string();
        // While the store lock is held (see `record`).
        self.children.image_made(&id, true)?;
        drop(store);
        st.image = Some(id.clone());
        Ok(id)
    }

    /// Stores the final image: the config with the last image's layers.
    fn finish(&mut self, mut st: Stage, names: Vec<String>) -> Result<String> {
        let store = steps::store(self.ctx, LockMode::Shared)?;
        let index = store.index()?;
        let (layers, size) = match &st.image {
            Some(i) => {
                let img = find_image(&index, i)?;
                (img.layers.clone(), img.size)
            }
            None => (Vec::new(), 0),
        };
        st.config["rootfs"] = json!({
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        });
        // The time of the last step, as docker's image is its last step's:
        // a build whose steps all came from the cache gives the same image.
        let last = st.config["history"]
            .as_array()
            .and_then(|h| h.last())
            .and_then(|e| e["created"].as_str())
            .map(str::to_string);
        st.config["created"] = last
            .unwrap_or_else(|| rless::image::time::format_rfc3339(rless::image::time::now()))
            .into();
        flags::apply_labels(&mut st.config, &self.extra.labels);
        moreflags::apply_to_image(&mut st.config, &self.extra.asked);
        let obj = st.config.as_object_mut().expect("object");
        obj.remove("container");
        obj.remove("container_config");
        let img = rless::image::commit::store_image(
            &store,
            &st.config,
            layers,
            size,
            names,
            self.extra.format,
        )?;
        Ok(img.id.hex().to_string())
    }
}

/// A RUN's command failed with this exit code.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub(super) struct StepExit(pub(super) i32);
