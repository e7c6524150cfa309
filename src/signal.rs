//! Signal names as docker and podman take them, for `kill -s`,
//! `run --stop-signal` and `commit -c 'STOPSIGNAL …'`: a name with or
//! without `SIG` in any case (`term`, `SIGUSR1`), a number 1 to 64, or a
//! real-time signal as `RTMIN`, `RTMIN+n`, `RTMAX-n`, `RTMAX`.
//!
//! Numbers are Linux's (the same on x86_64 and aarch64); real-time signals
//! are numbered from glibc's SIGRTMIN, 34 (the C library keeps 32 and 33),
//! to 64, as `kill -l` shows them. A [`Sig`] is any number the kernel
//! takes, so it is sent through [`crate::runtime::sys::send_signal`], not
//! nix's `Signal` (which has no real-time signals).

use nix::libc;

/// glibc's SIGRTMIN and SIGRTMAX.
pub const RTMIN: i32 = 34;
pub const RTMAX: i32 = 64;

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// A signal number, 1 to 64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig(i32);

impl Sig {
    pub const TERM: Sig = Sig(libc::SIGTERM);
    pub const KILL: Sig = Sig(libc::SIGKILL);

    /// Parses a name or number (see the module's documentation).
    pub fn parse(s: &str) -> Option<Sig> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let n = s.parse::<i32>().unwrap_or(0);
            return (1..=RTMAX).contains(&n).then_some(Sig(n));
        }
        let up = s.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        if let Some(&(_, n)) = NAMES.iter().find(|(k, _)| *k == name) {
            return Some(Sig(n));
        }
        // `+n` after RTMIN, `-n` after RTMAX, or nothing.
        let offset = |rest: &str, sign: char| -> Option<i32> {
            if rest.is_empty() {
                return Some(0);
            }
            let digits = rest.strip_prefix(sign)?;
            if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            digits.parse().ok()
        };
        let n = if let Some(rest) = name.strip_prefix("RTMIN") {
            RTMIN + offset(rest, '+')?
        } else if let Some(rest) = name.strip_prefix("RTMAX") {
            RTMAX - offset(rest, '-')?
        } else {
            return None;
        };
        (RTMIN..=RTMAX).contains(&n).then_some(Sig(n))
    }

    pub fn number(self) -> i32 {
        self.0
    }

    /// The signals that ask a container to end for good (`kill` with one
    /// of them ends its restart policy, as docker's "manually stopped").
    pub fn ends(self) -> bool {
        matches!(
            self.0,
            libc::SIGKILL | libc::SIGTERM | libc::SIGINT | libc::SIGQUIT
        )
    }

    /// The canonical name: `SIGTERM`, `SIGRTMIN+3`, `SIGRTMAX-2`; glibc's
    /// own 32 and 33 by number.
    pub fn name(self) -> String {
        let n = self.0;
        if let Some((k, _)) = NAMES.iter().find(|(_, v)| *v == n) {
            return format!("SIG{k}");
        }
        match n {
            RTMIN => "SIGRTMIN".into(),
            RTMAX => "SIGRTMAX".into(),
            // As `kill -l`: the lower half from RTMIN, the upper from RTMAX.
            n if n > RTMIN && n - RTMIN <= 15 => format!("SIGRTMIN+{}", n - RTMIN),
            n if n > RTMIN && n < RTMAX => format!("SIGRTMAX-{}", RTMAX - n),
            n => n.to_string(),
        }
    }
}

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        for s in ["TERM", "term", "SIGTERM", "sigterm", "SigTerm", "15"] {
            assert_eq!(Sig::parse(s), Some(Sig::TERM), "{s}");
        }
        assert_eq!(Sig::parse("KILL"), Some(Sig::KILL));
        assert_eq!(Sig::parse("9"), Some(Sig::KILL));
        assert_eq!(Sig::parse("USR1").map(Sig::number), Some(10));
        assert_eq!(Sig::parse("SIGCLD").map(Sig::number), Some(17));
        assert_eq!(Sig::parse("PWR").map(Sig::number), Some(30));
        for bad in [
            "",
            "SIG",
            "NOPE",
            "BOGUS",
            "0",
            "65",
            "-1",
            "+3",
            "TERM ",
            " 15",
            "SIGSIGTERM",
        ] {
            assert_eq!(Sig::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn real_time() {
        let n = |s| Sig::parse(s).map(Sig::number);
        assert_eq!(n("SIGRTMIN"), Some(34));
        assert_eq!(n("RTMIN"), Some(34));
        assert_eq!(n("SIGRTMIN+3"), Some(37));
        assert_eq!(n("rtmin+3"), Some(37));
        assert_eq!(n("RTMIN+30"), Some(64));
        assert_eq!(n("RTMAX"), Some(64));
        assert_eq!(n("SIGRTMAX-1"), Some(63));
        assert_eq!(n("RTMAX-30"), Some(34));
        assert_eq!(n("37"), Some(37));
        assert_eq!(n("64"), Some(64));
        assert_eq!(n("32"), Some(32));
        for bad in [
            "RTMIN+31",
            "RTMAX-31",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN+",
            "RTMAX-",
            "RTMIN3",
            "RTMIN++3",
            "RTMIN+-3",
            "RTMIN+003",
            "RTMINX",
            "RTMAX+0",
        ] {
            assert_eq!(Sig::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn canonical_names_parse_back() {
        for n in 1..=RTMAX {
            let s = Sig::parse(&n.to_string()).unwrap();
            assert_eq!(Sig::parse(&s.name()), Some(s), "{}", s.name());
        }
        assert_eq!(Sig::TERM.name(), "SIGTERM");
        assert_eq!(Sig::parse("37").unwrap().name(), "SIGRTMIN+3");
        assert_eq!(Sig::parse("49").unwrap().name(), "SIGRTMIN+15");
        assert_eq!(Sig::parse("50").unwrap().name(), "SIGRTMAX-14");
        assert_eq!(Sig::parse("63").unwrap().name(), "SIGRTMAX-1");
        assert_eq!(Sig::parse("IOT").unwrap().name(), "SIGABRT");
    }
}
