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
