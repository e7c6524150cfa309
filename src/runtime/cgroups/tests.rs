//! Unit tests of cgroup detection (mountinfo, own path) and planning (limits, parents).

use super::*;

#[test]
fn mountinfo_and_own_path() {
    let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
              41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    assert_eq!(
        cgroup2_mount(mi),
        Some((PathBuf::from("/sys/fs/cgroup/unified"), "/".to_string()))
    );
    assert_eq!(cgroup2_mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), None);
    let cg = "9:name=systemd:/\n4:memory:/x\n0::/user.slice/a b\n";
    assert_eq!(own_path(cg).as_deref(), Some("/user.slice/a b"));
}

fn delegation() -> Delegation {
    Delegation {
        hierarchy: Hierarchy {
            mount: "/cg".into(),
            own: "/cg/d/leaf".into(),
            hybrid: true,
        },
        root: "/cg/d".into(),
        controllers: vec!["cpu".into(), "pids".into()],
    }
}

fn spec(mode: Mode, flags: &[(&str, &str)]) -> CgroupSpec {
    let mut f = limits::LimitFlags::default();
    for (k, v) in flags {
        let v = Some(v.to_string());
        match *k {
            "memory" => f.memory = v,
            "cpus" => f.cpus = v,
            "pids" => f.pids_limit = v,
            _ => unreachable!(),
        }
    }
    CgroupSpec {
        mode,
        parent: None,
        settings: limits::settings(&f, 4).unwrap(),
        name: "rless-x".into(),
    }
}

#[test]
fn plans() {
    // No delegation: one warning naming the flags, or an error.
    let s = spec(Mode::Enabled, &[("memory", "64m"), ("pids", "5")]);
    let p = plan_with(&s, Err("no".into())).unwrap();
    assert_eq!(
        p.warning.as_deref(),
        Some("--memory, --pids-limit not applied: no")
    );
    assert!(p.parent.is_none());
    let s = spec(Mode::Enabled, &[]);
    assert!(plan_with(&s, Err("no".into())).unwrap().warning.is_none());
    let s = spec(Mode::Required, &[]);
    assert!(matches!(
        plan_with(&s, Err("no".into())),
        Err(CgroupError::Required(_))
    ));
    let s = spec(Mode::Disabled, &[("memory", "64m")]);
    let p = plan_with(&s, Err("no".into())).unwrap();
    assert!(p.warning.is_none() && p.parent.is_none());
    // Delegated with cpu and pids: only memory is warned about (not the
    // implied swap default).
    let s = spec(
        Mode::Enabled,
        &[("memory", "64m"), ("cpus", "1"), ("pids", "5")],
    );
    let p = plan_with(&s, Ok(delegation())).unwrap();
    assert_eq!(p.parent, Some(PathBuf::from("/cg/d")));
    assert_eq!(p.controllers, vec!["cpu".to_string(), "pids".to_string()]);
    let w = p.warning.unwrap();
    assert!(
        w.starts_with("--memory not applied: the memory controller"),
        "{w}"
    );
    let s = spec(Mode::Required, &[("memory", "64m")]);
    let e = plan_with(&s, Ok(delegation())).unwrap_err().to_string();
    assert!(
        e.contains("--memory") && e.contains("memory controller"),
        "{e}"
    );
    let s = spec(Mode::Required, &[("cpus", "1")]);
    assert!(plan_with(&s, Ok(delegation())).is_ok());
}

#[test]
fn parents() {
    let d = delegation();
    assert_eq!(resolve_parent(&d, None).unwrap(), PathBuf::from("/cg/d"));
    assert_eq!(
        resolve_parent(&d, Some("a/b")).unwrap(),
        PathBuf::from("/cg/d/a/b")
    );
    assert_eq!(
        resolve_parent(&d, Some("/d/x/")).unwrap(),
        PathBuf::from("/cg/d/x")
    );
    for bad in ["/other", "../x", "a/../../b", "", "/"] {
        assert!(resolve_parent(&d, Some(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn update_live_rewrites_and_lifts() {
    let dir = std::env::temp_dir().join(format!("rless-update-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["cpu.max", "pids.max", "memory.low", "io.weight", "io.max"] {
        std::fs::write(dir.join(f), "").unwrap();
    }
    let s =
        |flag: &str, file: &str, value: &str| limits::setting(flag, "x", file, value.into(), false);
    let mut weight = s("--blkio-weight", "io.bfq.weight", "500");
    weight.fallback = Some(("io.weight".into(), "default 4950".into()));
    let old = vec![
        s("--cpus", "cpu.max", "50000 100000"),
        s("--pids-limit", "pids.max", "20"),
        s("--memory-reservation", "memory.low", "1024"),
        s("--device-read-bps", "io.max", "7:0 rbps=100"),
    ];
    let new = vec![s("--pids-limit", "pids.max", "30"), weight];
    update_live(&dir, &old, &new).unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("pids.max"), "30", "replaced, not lifted first");
    assert_eq!(read("cpu.max"), "max 100000", "lifted");
    assert_eq!(read("memory.low"), "0");
    assert_eq!(read("io.max"), "7:0 rbps=max");
    assert_eq!(
        read("io.weight"),
        "default 4950",
        "no io.bfq.weight: the fallback"
    );
    // A file the kernel does not have is an error naming it.
    let e = update_live(&dir, &[], &[s("--cpuset-cpus", "cpuset.cpus", "0")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("cpuset.cpus"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
