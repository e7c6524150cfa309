//! The command line that makes a container again: what `run`/`create`
//! record (podman's `CreateCommand`) turned into the `run` that a systemd
//! unit of `generate systemd --new` starts at each service start.
//!
//! Theory of operation: the recorded argv is walked with `run`'s own clap
//! definition, so each option is known to take a value or not (a short
//! cluster such as `-dit` included), up to the image, after which
//! everything is the command. The options a service must set itself are
//! dropped: `-d` (the unit's process is the monitor), `-i` (a service has
//! no input), `--rm`, `--replace` and `--name` (put back by the unit),
//! `--cidfile` (the file would exist at the second start), `--restart`
//! (systemd's `Restart=` restarts), `--rmi` (the next start would have
//! to pull the image again) and `--preserve-fds` (a service's `run` gets
//! no such descriptors). Everything else is kept as typed.

/// Options that take no part in a service's `run` (long names).
const DROPPED: &[&str] = &[
    "detach",
    "interactive",
    "rm",
    "replace",
    "name",
    "cidfile",
    "restart",
    "rmi",
    "preserve-fds",
];

/// How `run`'s options take values.
struct Options {
    cmd: clap::Command,
}

/// One option as the walk sees it.
struct Opt {
    long: String,
    /// A value follows (in the same word after `=`, or the next word).
    takes_value: bool,
    /// The value may only come after `=` (`--sig-proxy[=false]`).
    equals_only: bool,
}

impl Options {
    fn new() -> Options {
        use clap::Args as _;
        Options {
            cmd: super::Args::augment_args(clap::Command::new("run")),
        }
    }

    fn opt(&self, arg: &clap::Arg) -> Opt {
        let range = arg.get_num_args();
        Opt {
            long: arg.get_long().unwrap_or_default().to_string(),
            takes_value: arg.get_action().takes_values(),
            equals_only: range.is_some_and(|r| r.min_values() == 0),
        }
    }

    fn long(&self, name: &str) -> Option<Opt> {
        self.cmd
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            })
            .map(|a| self.opt(a))
    }

    fn short(&self, c: char) -> Option<Opt> {
        self.cmd
            .get_arguments()
            .find(|a| a.get_short() == Some(c))
            .map(|a| self.opt(a))
    }
}

/// From a recorded `rless [global options] [container] run|create …`
/// argv: the options a service keeps, and the image with its command.
pub fn service_args(argv: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    split(argv, DROPPED)
}

/// [`service_args`] without the options whose long names `dropped` lists
/// (`container clone` drops others).
pub fn split(argv: &[String], drop_list: &[&str]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut i = 1;
    while let Some(a) = argv.get(i) {
        match a.as_str() {
            "--root" | "--log-level" => i += 2,
            a if a.starts_with("--root=") || a.starts_with("--log-level=") => i += 1,
            "container" => i += 1,
            _ => break,
        }
    }
    match argv.get(i).map(String::as_str) {
        Some("run" | "create") => i += 1,
        _ => return Err(format!("not a run or create command line: {argv:?}")),
    }
    let opts = Options::new();
    let mut kept = Vec::new();
    let words = &argv[i..];
    let mut k = 0;
    while k < words.len() {
        let w = &words[k];
        if w == "--" {
            return Ok((kept, words[k + 1..].to_vec()));
        }
        if let Some(body) = w.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let o = opts
                .long(name)
                .ok_or_else(|| format!("unknown option --{name} in {argv:?}"))?;
            let mut taken = vec![w.clone()];
            if o.takes_value && inline.is_none() && !o.equals_only {
                k += 1;
                let v = words
                    .get(k)
                    .ok_or_else(|| format!("--{name} has no value in {argv:?}"))?;
                taken.push(v.clone());
            }
            if !drop_list.contains(&o.long.as_str()) {
                kept.extend(taken);
            }
            k += 1;
            continue;
        }
        if let Some(cluster) = w.strip_prefix('-').filter(|c| !c.is_empty()) {
            let mut out = String::from("-");
            let mut value: Option<String> = None;
            for (at, c) in cluster.char_indices() {
                let o = opts
                    .short(c)
                    .ok_or_else(|| format!("unknown option -{c} in {argv:?}"))?;
                let dropped = drop_list.contains(&o.long.as_str());
                let rest = &cluster[at + c.len_utf8()..];
                if o.takes_value && o.equals_only {
                    // `-d=false`: the value only after `=`; `-dit`: none.
                    if let Some(v) = rest.strip_prefix('=') {
                        if !dropped {
                            out.push(c);
                            out.push('=');
                            out.push_str(v);
                        }
                        break;
                    }
                    if !dropped {
                        out.push(c);
                    }
                    continue;
                }
                if o.takes_value {
                    let v = if rest.is_empty() {
                        k += 1;
                        words
                            .get(k)
                            .ok_or_else(|| format!("-{c} has no value in {argv:?}"))?
                            .clone()
                    } else {
                        rest.trim_start_matches('=').to_string()
                    };
                    if !dropped {
                        out.push(c);
                        value = Some(v);
                    }
                    break;
                }
                if !dropped {
                    out.push(c);
                }
            }
            if out.len() > 1 {
                kept.push(out);
                kept.extend(value);
            }
            k += 1;
            continue;
        }
        // The image: the rest is its command.
        return Ok((kept, words[k..].to_vec()));
    }
    Err(format!("no image in {argv:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn drops_what_a_service_sets_and_keeps_the_rest() {
        let (kept, rest) = service_args(&v(
            "rless --root /s container run -dit --rm --name web -p 8080:80 -e A=1 --restart=always --sig-proxy --cidfile /c img sh -c true",
        ))
        .unwrap();
        assert_eq!(kept, v("-t -p 8080:80 -e A=1 --sig-proxy"));
        assert_eq!(rest, v("img sh -c true"));
        let (kept, rest) =
            service_args(&v("rless create -eB=2 --name=x -v /a:/b -- img --flag")).unwrap();
        assert_eq!(kept, v("-e B=2 -v /a:/b"));
        assert_eq!(rest, v("img --flag"));
        // A value that looks like an option, and -u in a cluster.
        // Flags that take `=true|false` (docker's), as such and in clusters.
        let (kept, _) =
            service_args(&v("rless run --rm=false -dit --privileged=true --init img")).unwrap();
        assert_eq!(kept, v("-t --privileged=true --init"));
        // --rmi: the unit's next start would have no image.
        let (kept, _) = service_args(&v("rless run --rmi --tz local img")).unwrap();
        assert_eq!(kept, v("--tz local"));
        // --preserve-fds: the unit's run has no such descriptors; the
        // other new options stay.
        let (kept, _) =
            service_args(&v("rless run --preserve-fds 2 --personality LINUX32 img")).unwrap();
        assert_eq!(kept, v("--personality LINUX32"));
        let (kept, rest) = service_args(&v("rless run -w -x -tu 0 img")).unwrap();
        assert_eq!(kept, v("-w -x -tu 0"));
        assert_eq!(rest, v("img"));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(service_args(&v("rless start x")).is_err());
        assert!(service_args(&v("rless run --no-such img")).is_err());
        assert!(service_args(&v("rless run -d")).is_err());
        assert!(service_args(&v("rless run --name")).is_err());
    }
}
