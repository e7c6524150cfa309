use super::*;

const YAML: &str = r#"
cdiVersion: "0.5.0"
kind: example.com/gpu
containerEdits:
  env: [SHARED=1]
  hooks:
    - hookName: createContainer
      path: /bin/true
      args: [true, one]
      timeout: 5
devices:
  - name: "0"
    containerEdits:
      env: ["DEV=0"]
      deviceNodes:
        - path: /dev/fake0
          hostPath: /dev/null
          type: c
          major: 1
          minor: 3
          permissions: rw
          fileMode: 438
      mounts:
        - hostPath: /etc
          containerPath: /host-etc
          options: [ro, nosuid, nodev, bind]
  - name: "1"
    containerEdits:
      deviceNodes:
        - path: /dev/zero
      additionalGIDs: [44]
  - name: all
    containerEdits:
      deviceNodes:
        - path: /dev/fake0
          hostPath: /dev/null
        - path: /dev/zero
"#;

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (n, t) in files {
        std::fs::write(d.path().join(n), t).unwrap();
    }
    d
}

#[test]
fn names() {
    assert!(is_qualified("nvidia.com/gpu=all"));
    assert!(is_qualified("vendor.io/class=dev:1"));
    assert!(!is_qualified("/dev/null"));
    assert!(!is_qualified("/dev/null:/dev/x"));
    assert!(!is_qualified("gpu=0"));
    let q = parse_name("nvidia.com/gpu=GPU-12ab").unwrap();
    assert_eq!(q.kind(), "nvidia.com/gpu");
    assert_eq!(q.device, "GPU-12ab");
    for bad in [
        "nvidia.com/gpu",
        "nvidia.com/=0",
        "/gpu=0",
        "a/b=",
        "a/b=-x",
        "a b/c=0",
    ] {
        assert!(parse_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn yaml_and_json_specs() {
    let s = Spec::parse(YAML, Path::new("x.yaml")).unwrap();
    assert_eq!(s.kind, "example.com/gpu");
    assert_eq!(s.devices.len(), 3);
    let n = &s.devices[0].container_edits.device_nodes[0];
    assert_eq!(n.host_path.as_deref(), Some("/dev/null"));
    assert_eq!(
        (n.major, n.minor, n.file_mode),
        (Some(1), Some(3), Some(438))
    );
    assert_eq!(s.devices[1].container_edits.additional_gids, vec![44]);
    let h = &s.container_edits.as_ref().unwrap().hooks[0];
    assert_eq!(
        (h.hook_name.as_str(), h.timeout),
        ("createContainer", Some(5))
    );
    assert_eq!(h.args, vec!["true", "one"]);
    let json = r#"{"cdiVersion":"0.8.0","kind":"a.b/c","devices":[{"name":"x","containerEdits":{"env":["A=1"]}}]}"#;
    let s = Spec::parse(json, Path::new("x.json")).unwrap();
    assert_eq!(s.devices[0].container_edits.env, vec!["A=1"]);
}

#[test]
fn malformed_specs_name_the_file() {
    let cases = [
        ("cdiVersion: \"9.9.9\"\nkind: a.b/c\ndevices: [{name: x}]\n", "cdiVersion"),
        ("cdiVersion: \"0.6.0\"\nkind: nokind\ndevices: [{name: x}]\n", "kind"),
        ("cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: []\n", "no devices"),
        ("cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: [{name: x}, {name: x}]\n", "twice"),
        ("cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: [{name: x, containerEdits: {env: [NOVALUE]}}]\n", "KEY=VALUE"),
        ("cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: [{name: x, containerEdits: {hooks: [{hookName: later, path: /bin/true}]}}]\n", "hookName"),
        ("cdiVersion: [\n", ""),
    ];
    for (text, why) in cases {
        let e = Spec::parse(text, Path::new("/etc/cdi/bad.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid CDI spec /etc/cdi/bad.yaml: "), "{e}");
        assert!(e.contains(why), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let d = dir_with(&[("bad.json", "{")]);
    let e = Registry::load(&[d.path().into()]).unwrap_err().to_string();
    assert!(e.contains("bad.json"), "{e}");
}

#[test]
fn resolution() {
    let d = dir_with(&[("a.yaml", YAML), ("notes.txt", "not a spec")]);
    let reg = Registry::load(&[d.path().into(), "/nonexistent/cdi".into()]).unwrap();
    assert!(reg.has_kind("example.com/gpu"));
    assert_eq!(
        reg.device_names(),
        [
            "example.com/gpu=0",
            "example.com/gpu=1",
            "example.com/gpu=all"
        ]
    );
    let r = reg.resolve(&["example.com/gpu=0".into()]).unwrap();
    assert_eq!(r.env, ["SHARED=1", "DEV=0"]);
    assert_eq!(r.devices, [("/dev/null".into(), "/dev/fake0".into())]);
    assert_eq!(r.mounts, [("/etc".into(), "/host-etc".into(), true)]);
    assert_eq!(r.hooks.len(), 1);
    // The spec's own edits come once for two of its devices; a device
    // without hostPath binds its own path.
    let r = reg
        .resolve(&["example.com/gpu=0".into(), "example.com/gpu=1".into()])
        .unwrap();
    assert_eq!(r.env, ["SHARED=1", "DEV=0"]);
    assert_eq!(r.devices.len(), 2);
    assert_eq!(r.devices[1], ("/dev/zero".into(), "/dev/zero".into()));
    assert_eq!(r.gids, [44]);
    // The spec's device named all.
    let r = reg.resolve(&["example.com/gpu=all".into()]).unwrap();
    assert_eq!(r.devices.len(), 2);
    assert!(r.mounts.is_empty());
    let e = reg.resolve(&["example.com/gpu=7".into()]).unwrap_err();
    assert!(e.to_string().contains("has no device \"7\""), "{e}");
    let e = reg.resolve(&["other.com/gpu=0".into()]).unwrap_err();
    assert!(e.to_string().contains("no spec in"), "{e}");
}

#[test]
fn all_without_a_device_of_that_name_is_every_device() {
    let spec = "cdiVersion: \"0.3.0\"\nkind: a.b/c\ndevices:\n - {name: x, containerEdits: {env: [X=1]}}\n - {name: y, containerEdits: {env: [Y=1]}}\n";
    let d = dir_with(&[("s.yml", spec)]);
    let reg = Registry::load(&[d.path().into()]).unwrap();
    let r = reg.resolve(&["a.b/c=all".into()]).unwrap();
    assert_eq!(r.env, ["X=1", "Y=1"]);
}

#[test]
fn later_directories_override_earlier_ones() {
    let spec = |v: &str| {
        format!("cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: [{{name: x, containerEdits: {{env: [V={v}]}}}}]\n")
    };
    let low = dir_with(&[("s.yaml", &spec("low"))]);
    let high = dir_with(&[("s.yaml", &spec("high"))]);
    let reg = Registry::load(&[low.path().into(), high.path().into()]).unwrap();
    assert_eq!(reg.resolve(&["a.b/c=x".into()]).unwrap().env, ["V=high"]);
    let reg = Registry::load(&[high.path().into(), low.path().into()]).unwrap();
    assert_eq!(reg.resolve(&["a.b/c=x".into()]).unwrap().env, ["V=low"]);
}

#[test]
fn missing_host_paths_are_refused() {
    let spec = |edits: &str| {
        format!(
            "cdiVersion: \"0.6.0\"\nkind: a.b/c\ndevices: [{{name: x, containerEdits: {edits}}}]\n"
        )
    };
    for (edits, what) in [
        (
            "{deviceNodes: [{path: /dev/nope-cdi-test}]}",
            "device /dev/nope-cdi-test",
        ),
        (
            "{deviceNodes: [{path: /dev/x, hostPath: /etc/passwd}]}",
            "is not a device",
        ),
        (
            "{mounts: [{hostPath: /nope-cdi, containerPath: /x}]}",
            "mount source /nope-cdi",
        ),
        (
            "{hooks: [{hookName: createContainer, path: /nope-hook}]}",
            "hook /nope-hook",
        ),
        (
            "{mounts: [{hostPath: /etc, containerPath: /x, type: nfs}]}",
            "only binds",
        ),
    ] {
        let d = dir_with(&[("s.yaml", &spec(edits))]);
        let reg = Registry::load(&[d.path().into()]).unwrap();
        let e = reg.resolve(&["a.b/c=x".into()]).unwrap_err().to_string();
        assert!(e.contains(what), "{e}");
        assert!(e.contains("s.yaml"), "{e}");
    }
}

#[test]
fn gpus() {
    let empty = Registry::default();
    let e = gpus_to_names("all", &empty).unwrap_err().to_string();
    assert!(e.contains("nvidia-ctk cdi generate"), "{e}");
    let spec = YAML.replace("example.com/gpu", "nvidia.com/gpu");
    let d = dir_with(&[("nvidia.yaml", &spec)]);
    let reg = Registry::load(&[d.path().into()]).unwrap();
    let g = |v: &str| gpus_to_names(v, &reg);
    assert_eq!(g("all").unwrap(), ["nvidia.com/gpu=all"]);
    assert_eq!(g("count=all").unwrap(), ["nvidia.com/gpu=all"]);
    assert_eq!(g("1").unwrap(), ["nvidia.com/gpu=0"]);
    assert_eq!(g("2").unwrap(), ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]);
    assert!(g("3").is_err());
    assert_eq!(
        g("\"device=1,0\"").unwrap(),
        ["nvidia.com/gpu=1", "nvidia.com/gpu=0"]
    );
    assert_eq!(
        g("device=0,capabilities=utility").unwrap(),
        ["nvidia.com/gpu=0"]
    );
    assert!(g("many").is_err());
    assert!(g("colour=red").is_err());
}
