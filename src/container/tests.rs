//! Unit tests of the container records: names, creation, removal and the
//! debris sweep.

use super::*;

/// A container record with nothing set but its id and name, for the
/// tests to change what they look at.
fn config(id: ContainerId, name: &str) -> ContainerConfig {
    ContainerConfig {
        id,
        name: name.into(),
        image_id: String::new(),
        image_name: String::new(),
        command: vec![],
        created: 0,
        created_ns: 0,
        auto_remove: false,
        restart: RestartPolicy::No,
        mounts: vec![],
        labels: Default::default(),
        stop_signal: None,
        healthcheck: None,
        stop_timeout: None,
        host_config: Default::default(),
        annotations: Default::default(),
        create_command: Vec::new(),
        create_dir: None,
        secrets: Vec::new(),
        run_options: Default::default(),
        pod: None,
        requires: Vec::new(),
        exposed_ports: Vec::new(),
    }
}

/// A change made from a state read before the monitor recorded the
/// exit (the interleaving `pause` and `network connect` met) applies to
/// the state as it is now, and leaves the exit record alone.
#[test]
fn updates_apply_to_the_state_as_it_is_now() {
    let t = tempfile::tempdir().unwrap();
    let me = std::process::id() as i32;
    let running = ContainerState {
        status: "running".into(),
        monitor_pid: Some(me),
        monitor_start: process_start(me),
        ..Default::default()
    };
    write_state(t.path(), &running).unwrap();
    let before = read_state(t.path());
    assert!(before.running());
    // The monitor records the exit.
    let exited = ContainerState {
        status: "exited".into(),
        exit_code: Some(0),
        ..Default::default()
    };
    write_state(t.path(), &exited).unwrap();
    // A pause that read `before` marks the container paused only if
    // it still runs.
    update_state(t.path(), |s| {
        s.paused = s.running();
        s.paused
    })
    .unwrap();
    let after = read_state(t.path());
    assert_eq!(
        (after.status.as_str(), after.exit_code),
        ("exited", Some(0))
    );
    assert!(!after.paused);
    // While it runs, the change goes in.
    write_state(t.path(), &running).unwrap();
    update_state(t.path(), |s| {
        s.paused = s.running();
        s.paused
    })
    .unwrap();
    assert!(read_state(t.path()).paused);
}

/// A removal killed between its rename and the anonymous volumes: the
/// debris sweep removes a `--rm` container's anonymous volumes with
/// its tree, and keeps those of another container (an `rm` without
/// `-v` keeps them, as docker's).
#[test]
fn debris_sweep_removes_anonymous_volumes_of_rm_containers() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    for (n, (auto_remove, vol)) in [(true, "anon-rm"), (false, "anon-kept")]
        .into_iter()
        .enumerate()
    {
        volume::ensure(t.path(), vol, Default::default(), Default::default(), true).unwrap();
        let c = ContainerConfig {
            auto_remove,
            mounts: vec![crate::runtime::plan::MountOp::Volume {
                name: vol.into(),
                source: PathBuf::new(),
                target: "/data".into(),
                readonly: false,
                copy: false,
                anonymous: true,
            }],
            ..config(ContainerId::random(), "")
        };
        let (_, dir) = create(&store, c).unwrap();
        let debris = containers_dir(&store).join(format!(".tmp-{dead}-{n}-del"));
        fs::rename(&dir, &debris).unwrap();
    }
    store.remove_container_debris();
    let left: Vec<String> = volume::list(t.path()).into_iter().map(|v| v.name).collect();
    assert_eq!(left, ["anon-kept"]);
    let debris: Vec<_> = fs::read_dir(containers_dir(&store))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(debris.is_empty(), "{debris:?}");
}

#[test]
fn generated_names_never_collide() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let cfg = |id: String| config(ContainerId(id), "");
    // Same first four hex digits: the same generated name.
    let (a, _) = create(&store, cfg(format!("abcd{}", "0".repeat(60)))).unwrap();
    let (b, _) = create(&store, cfg(format!("abcd{}", "1".repeat(60)))).unwrap();
    let (c, _) = create(&store, cfg(format!("abcd{}", "2".repeat(60)))).unwrap();
    assert_eq!(b.name, format!("{}_2", a.name));
    assert_eq!(c.name, format!("{}_3", a.name));
}

#[test]
fn restart_policies() {
    assert_eq!(
        RestartPolicy::parse("on-failure:3"),
        Some(RestartPolicy::OnFailure(3))
    );
    assert_eq!(RestartPolicy::parse("bogus"), None);
    let p = RestartPolicy::OnFailure(2);
    assert!(
        p.should_restart(1, 1, false)
            && !p.should_restart(1, 2, false)
            && !p.should_restart(0, 0, false)
    );
    assert!(RestartPolicy::Always.should_restart(0, 99, false));
    assert!(!RestartPolicy::Always.should_restart(1, 0, true));
    assert!(!RestartPolicy::No.should_restart(1, 0, false));
}

#[test]
fn ids_and_names() {
    let a = ContainerId::random();
    assert_eq!(a.as_str().len(), 64);
    assert_ne!(a, ContainerId::random());
    assert!(valid_name("web-1.a_b"));
    assert!(!valid_name("-x") && !valid_name("a/b") && !valid_name(""));
    assert!(valid_name(&generated_name(&a)));
    assert!(valid_name(&format!("{}_2", generated_name(&a))));
}

#[test]
fn create_refuses_duplicate_names() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let cfg = |name: &str| config(ContainerId::random(), name);
    let (c, dir) = create(&store, cfg("web")).unwrap();
    assert!(dir.join("upper").is_dir());
    assert!(matches!(
        create(&store, cfg("web")),
        Err(ContainerError::NameInUse(_))
    ));
    assert!(matches!(
        create(&store, cfg("a/b")),
        Err(ContainerError::BadName(_))
    ));
    remove_dir(&dir).unwrap();
    assert!(create(&store, cfg(&c.name)).is_ok());
}

/// A change of status is logged once, by the writer that recorded it: a
/// write that failed (a full disk) logs no `died`, and the writer that
/// then records the exit (the monitor's retry, or a reader that finds the
/// monitor gone) logs the only one.
#[test]
fn a_died_event_is_logged_once() {
    let root = tempfile::tempdir().unwrap();
    let id = ContainerId::random();
    let dir = root.path().join("containers").join(id.as_str());
    fs::create_dir_all(&dir).unwrap();
    write_json_atomically(&dir, "config.json", &config(id, "once")).unwrap();
    let me = std::process::id() as i32;
    let running = ContainerState {
        status: "running".into(),
        monitor_pid: Some(me),
        monitor_start: process_start(me),
        ..Default::default()
    };
    write_state(&dir, &running).unwrap();
    let exited = ContainerState {
        status: "exited".into(),
        exit_code: Some(3),
        ..Default::default()
    };
    state::FAIL_WRITES.with(|f| f.set(true));
    assert!(write_state(&dir, &exited).is_err());
    state::FAIL_WRITES.with(|f| f.set(false));
    assert!(read_state(&dir).running());
    write_state(&dir, &exited).unwrap();
    // Written again as it is: no change, no event.
    write_state(&dir, &exited).unwrap();
    let statuses: Vec<String> = crate::events::read_all(root.path())
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, ["start", "died"], "{statuses:?}");
}

#[test]
fn nfs_leftovers_are_told_from_other_files() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir_all(d.join("upper/etc")).unwrap();
    std::fs::write(d.join(".nfs000000000012abcd00000001"), b"").unwrap();
    std::fs::write(d.join("upper/etc/.nfs00ff"), b"").unwrap();
    assert!(super::only_nfs_leftovers(d));
    std::fs::write(d.join("upper/state.json"), b"{}").unwrap();
    assert!(
        !super::only_nfs_leftovers(d),
        "a real file is not a leftover"
    );
    std::fs::remove_file(d.join("upper/state.json")).unwrap();
    std::fs::write(d.join(".nfs"), b"").unwrap();
    assert!(!super::only_nfs_leftovers(d), "no hex digits");
    let empty = tempfile::tempdir().unwrap();
    assert!(
        !super::only_nfs_leftovers(empty.path()),
        "nothing left is not this case"
    );
}

/// A `pod create` whose infra container could not be made discards its
/// pod only while no container has joined it (under the `pods` lock, as
/// containers join): one that joined keeps it.
#[test]
fn a_failed_pod_create_keeps_a_pod_a_container_joined() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let p = pod::create(&store, Some("p".into()), Default::default(), Vec::new()).unwrap();
    let mut c = config(ContainerId::random(), "member");
    c.pod = Some(p.id.clone());
    let (_, dir) = create(&store, c).unwrap();
    {
        let _lock = pod::lock(&store).unwrap();
        assert!(!pod::discard_locked(store.root(), &p));
    }
    assert_eq!(pod::read(store.root(), "p").unwrap().id, p.id);
    remove_dir(&dir).unwrap();
    let _lock = pod::lock(&store).unwrap();
    assert!(pod::discard_locked(store.root(), &p));
    assert!(pod::read(store.root(), "p").is_err());
}
