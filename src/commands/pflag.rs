//! docker's short forms `-i=false` (`-t=true`, `-d=false`, also at the
//! end of a cluster: `-it=false`) and `-a=stdout`, which docker's option
//! parser (pflag) takes and clap does not (it takes `--interactive=false`).
//!
//! Theory of operation: before parsing, the words of `run`, `create`,
//! `exec` and `start` are walked with the command's own clap definition
//! up to its first operand (the image or container; what follows is the
//! container's command), so each option is known to take a value or not.
//! A short option followed by `=VALUE` is rewritten as its long form:
//! `-it=false` becomes `-i --tty=false` (rless's booleans take their value
//! only after `=`), and `-e=A=1` becomes `--env=A=1` (pflag's value is what
//! follows the `=`; `-eA=1` stays as it is). Nothing else changes; a word
//! the walk does not understand ends it, and clap reports it as before.

use std::ffi::OsString;

/// The command line with every short `-X=VALUE` boolean in its long form.
pub fn expand(args: Vec<OsString>) -> Vec<OsString> {
    // Cheap first: nothing to do without a word such as `-x=…`.
    let candidate = |a: &OsString| {
        a.to_str()
            .is_some_and(|s| s.starts_with('-') && !s.starts_with("--") && s.contains('='))
    };
    if !args.iter().any(candidate) {
        return args;
    }
    let i = super::command_index(&args);
    use clap::Args as _;
    let cmd = match args.get(i).and_then(|a| a.to_str()) {
        Some("run" | "create") => super::run::Args::augment_args(clap::Command::new("run")),
        Some("exec") => super::exec::Args::augment_args(clap::Command::new("exec")),
        Some("start") => super::start::Args::augment_args(clap::Command::new("start")),
        _ => return args,
    };
    let mut out: Vec<OsString> = args[..=i].to_vec();
    let mut words = args[i + 1..].iter();
    while let Some(w) = words.next() {
        let option = w
            .to_str()
            .filter(|s| s.starts_with('-') && *s != "-" && *s != "--");
        let Some((rewritten, value_next)) = option.and_then(|s| rewrite(&cmd, s)) else {
            // An operand, `--`, or a word the walk does not understand.
            out.push(w.clone());
            break;
        };
        out.extend(rewritten.into_iter().map(OsString::from));
        if value_next {
            out.extend(words.next().cloned());
        }
    }
    out.extend(words.cloned());
    out
}

/// What the option word `s` becomes, and whether the next word is its
/// value; `None` when `cmd` has no such option.
fn rewrite(cmd: &clap::Command, s: &str) -> Option<(Vec<String>, bool)> {
    if let Some(body) = s.strip_prefix("--") {
        if body.contains('=') {
            return Some((vec![s.to_string()], false));
        }
        let arg = cmd.get_arguments().find(|a| {
            a.get_long() == Some(body) || a.get_all_aliases().is_some_and(|al| al.contains(&body))
        })?;
        return Some((vec![s.to_string()], takes_next(arg)));
    }
    // A cluster of short options: those before the one that takes a value
    // are kept; `X=VALUE` becomes `--long=VALUE`.
    let cluster = &s[1..];
    let mut kept = String::from("-");
    let mut long = None;
    let mut value_next = false;
    for (at, c) in cluster.char_indices() {
        let rest = &cluster[at + c.len_utf8()..];
        let arg = cmd.get_arguments().find(|a| a.get_short() == Some(c))?;
        let takes_values = arg.get_action().takes_values();
        if let Some(v) = rest.strip_prefix('=').filter(|_| takes_values) {
            // `-t=true` (a boolean) or pflag's `-e=A=1`: the value after `=`.
            long = Some(format!("--{}={v}", arg.get_long()?));
            break;
        }
        if equals_only(arg) {
            kept.push(c);
            continue;
        }
        // Its value is the rest of the word, or the next word.
        value_next = takes_values && rest.is_empty();
        kept.push_str(&cluster[at..]);
        break;
    }
    let kept = (kept.len() > 1).then_some(kept);
    Some((kept.into_iter().chain(long).collect(), value_next))
}

/// An option whose value may only follow `=` (`--rm[=false]`).
fn equals_only(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_some_and(|r| r.min_values() == 0)
}

/// An option written without `=` whose value is the next word.
fn takes_next(arg: &clap::Arg) -> bool {
    arg.get_action().takes_values() && !equals_only(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn short_booleans_take_equals() {
        for (args, want) in [
            (
                "rless run -i=false -t=true --rm img",
                "rless run --interactive=false --tty=true --rm img",
            ),
            (
                "rless --root /r create -dit=false img",
                "rless --root /r create -di --tty=false img",
            ),
            (
                "rless exec -d=false -it c sh",
                "rless exec --detach=false -it c sh",
            ),
            // A value taken by the option before, and the command's own words.
            (
                "rless run -e A=1 -w /x -i=true img sh -i=false",
                "rless run -e A=1 -w /x --interactive=true img sh -i=false",
            ),
            (
                "rless run --name n -eA=1 -d=false img",
                "rless run --name n -eA=1 --detach=false img",
            ),
            // A value after `=`, as pflag takes it.
            (
                "rless run -e=A=1 -ia=stdout img",
                "rless run --env=A=1 -i --attach=stdout img",
            ),
            // Values in the next word (long and short), a long option's
            // own `=`, a cluster ending in an option with a value.
            (
                "rless run --env A=1 --name=n -dw /x -it=false img",
                "rless run --env A=1 --name=n -dw /x -i --tty=false img",
            ),
            (
                "rless run -dew=1 -t=true img",
                "rless run -dew=1 --tty=true img",
            ),
            (
                "rless exec -d=true -u 0 c -i=false",
                "rless exec --detach=true -u 0 c -i=false",
            ),
        ] {
            assert_eq!(expand(v(args)), v(want), "{args}");
        }
        // Untouched: no such word, other commands, unknown options, and
        // what follows a word the walk does not understand.
        for same in [
            "rless run -it img",
            "rless ps -f=x",
            "rless run -Z=false img",
            "rless run --bogus -i=false img",
            "rless run -iZ=1 -t=true img",
            "rless run -- -i=false",
            "rless run - -i=false",
        ] {
            assert_eq!(expand(v(same)), v(same), "{same}");
        }
    }

    #[test]
    fn the_parser_takes_them() {
        use clap::Args as _;
        let cmd = super::super::run::Args::augment_args(clap::Command::new("run"));
        let words = expand(v("rless run -i=false -t=true -d=false img"));
        let m = cmd.try_get_matches_from(&words[1..]).expect("parses");
        assert_eq!(m.get_one::<bool>("interactive"), Some(&false));
        assert_eq!(m.get_one::<bool>("tty"), Some(&true));
        assert_eq!(m.get_one::<bool>("detach"), Some(&false));
        let args: Vec<&String> = m.get_many::<String>("args").unwrap().collect();
        assert_eq!(args, vec!["img"]);
    }
}
