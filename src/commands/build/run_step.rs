//! RUN: `rless run` of the step's command in a step container from the
//! current image, then `rless commit` of it.
//!
//! Theory of operation: intermediate images carry their base's config, so
//! the in-memory config is given as options: its environment (the ARG
//! values in scope and the proxy build arguments first, which the image's
//! own variables override, as docker gives them), working directory and
//! user; `--entrypoint ''` and the argv of the shell or exec form (with
//! heredocs, the command [`super::heredoc::RunCommand`] makes; a `#!`
//! script is a file bound read-only at `/dev/pipes/NAME`, as BuildKit
//! mounts it, and the shell runs that path); the step's `--mount`s and
//! `--network` ([`super::run_mounts`]). The
//! child runs in its own process group ([`super::steps`]); a failed
//! command is a [`super::StepExit`] with its status.

use super::heredoc::RunCommand;
use super::parse::{Form, Instruction};
use super::run_mounts::Prepared;
use super::{Build, Stage, StepExit, PROXY_ARGS};
use anyhow::{bail, Context as _, Result};
use rless::image::change;
use std::process::Stdio;

impl Build<'_> {
    pub(super) fn run_step(&mut self, st: &mut Stage, ins: &Instruction, n: usize) -> Result<()> {
        let shell = st.shell();
        // A heredoc script's file, kept until the step ends.
        let mut script = None;
        let mut script_mount = None;
        let argv = match super::heredoc::RunCommand::of(&ins.rest, &ins.heredocs, ins.escape) {
            _ if ins.heredocs.is_empty() => Form::of(&ins.rest).argv(&shell),
            RunCommand::Shell(text) => shell.iter().cloned().chain([text]).collect(),
            RunCommand::Script { name, content } => {
                if name.contains([':', ',']) {
                    bail!("heredoc <<{name}: a script's name cannot have a : or a ,");
                }
                let files = super::heredoc::Files::new(&self.ctx.root)?;
                let path = files.write(&name, &content, 0o755)?;
                script = Some(files);
                let target = format!("/dev/pipes/{name}");
                script_mount = Some(format!("{}:{target}:ro", path.display()));
                shell.iter().cloned().chain([target]).collect()
            }
        };
        let image = self.image_of(st)?;
        let mut mounts = self.mount_args(st, n)?;
        if let Some(m) = script_mount {
            mounts.args.extend(["-v".into(), m]);
        }
        let ran = self.run_command(st, &argv, image, n, &mounts);
        self.release(mounts);
        let ctr = ran?;
        drop(script);
        st.image = Some(self.children.commit(&ctr)?);
        // With heredocs, as podman records it: the shell, the line, and
        // each body (trimmed) on the lines after it.
        let mut created_by = match ins.heredocs.is_empty() {
            true => argv.join(" "),
            false => format!("{} {}", shell.join(" "), ins.rest),
        };
        for h in &ins.heredocs {
            created_by.push('\n');
            created_by.push_str(h.body.trim());
        }
        st.history(created_by, false);
        Ok(())
    }

    /// `rless run` of the step's command; the step container's name.
    fn run_command(
        &mut self,
        st: &Stage,
        argv: &[String],
        image: String,
        n: usize,
        mounts: &Prepared,
    ) -> Result<String> {
        let ctr = self.children.container_name(n)?;
        let mut args: Vec<String> = vec!["run".into(), "--name".into(), ctr.clone()];
        let network = mounts.network.as_ref().unwrap_or(&self.network);
        if let Some(net) = network {
            args.extend(["--network".into(), net.clone()]);
        }
        args.extend(mounts.args.iter().cloned());
        args.extend(self.extra.run_args.iter().cloned());
        // Build arguments are the command's environment too (the image's
        // own variables win), but are not kept in the image.
        let env = change::env_of(
            st.config["config"]
                .as_object()
                .unwrap_or(&Default::default()),
        );
        let proxies = self
            .build_args
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .filter(|(k, _)| !st.args.iter().any(|(a, _)| a == k));
        for (k, v) in st
            .args
            .iter()
            .chain(proxies)
            .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
        {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        for (k, v) in &env {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        args.extend(["-w".into(), st.workdir()]);
        if let Some(u) = st.config["config"]["User"]
            .as_str()
            .filter(|u| !u.is_empty())
        {
            args.extend(["-u".into(), u.to_string()]);
        }
        args.extend(["--entrypoint".into(), String::new(), image]);
        args.extend(argv.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.children.command(&refs)?;
        if self.extra.asked.stdin {
            cmd.stdin(Stdio::inherit());
        }
        if !mounts.secret_env.is_empty() {
            // In the environment of `rless run` alone, which takes it out
            // of its own at once (see `run::secrets`).
            cmd.env(
                crate::commands::run::BUILD_SECRET_ENV,
                serde_json::to_string(&mounts.secret_env).expect("json"),
            );
        }
        if self.quiet {
            cmd.stdout(Stdio::null());
        }
        let child = cmd.spawn().context("cannot start rless run")?;
        let status = self.children.wait(child)?;
        if !status.success() {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            return Err(StepExit(code).into());
        }
        Ok(ctr)
    }
}
