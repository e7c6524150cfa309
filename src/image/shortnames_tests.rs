//! Unit tests of short-name resolution (pure: files given as text).

use super::*;
use std::path::Path;

const MAIN: &str = "/etc/containers/registries.conf";
const DROP: &str = "/etc/containers/registries.conf.d/x.conf";
const CACHE: &str = "/home/u/.cache/containers/short-name-aliases.conf";

fn conf(files: &[(&str, &str)]) -> RegistriesConf {
    let mut c = RegistriesConf::default();
    for (path, text) in files {
        c.add(Path::new(path), text)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    c
}

fn names(r: &Resolved) -> Vec<String> {
    r.candidates.iter().map(|c| c.to_string()).collect()
}

fn local(c: &RegistriesConf, input: &str) -> Vec<String> {
    c.local_candidates(input)
        .iter()
        .map(|c| c.to_string())
        .collect()
}

const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn which_names_are_short() {
    for s in [
        "alpine",
        "alpine:3",
        "team/app:1",
        "a/b/c",
        "alpine@sha256:00",
    ] {
        assert!(is_short(s), "{s}");
    }
    for s in [
        "docker.io/alpine",
        "localhost/app",
        "127.0.0.1:5000/app:1",
        "reg.example/a/b",
        "host:5000/x@sha256:00",
    ] {
        assert!(!is_short(s), "{s}");
    }
    assert_eq!(repository_as_written("team/app:1"), "team/app");
    assert_eq!(repository_as_written(&format!("app@{DIGEST}")), "app");
    assert_eq!(repository_as_written("app"), "app");
}

#[test]
fn nothing_configured_means_docker_hub() {
    let c = RegistriesConf::default();
    let r = c.resolve("alpine:3", false).unwrap();
    assert_eq!(names(&r), ["docker.io/library/alpine:3"]);
    assert_eq!(r.how, How::DockerHub);
    // Found as what `tag` names it first, then as pulled.
    assert_eq!(
        local(&c, "alpine"),
        ["localhost/alpine:latest", "docker.io/library/alpine:latest"]
    );
    // An empty list is nothing configured too.
    let c = conf(&[(MAIN, "unqualified-search-registries = []\n")]);
    assert_eq!(
        names(&c.resolve("team/app", false).unwrap()),
        ["docker.io/team/app:latest"]
    );
    // A full name is itself.
    let r = c.resolve("quay.io/a/b:1", false).unwrap();
    assert_eq!(
        (names(&r), r.how),
        (vec!["quay.io/a/b:1".into()], How::Qualified)
    );
}

#[test]
fn one_search_registry_is_used_in_every_mode() {
    for mode in ["", "short-name-mode = \"enforcing\"\n"] {
        let c = conf(&[(
            MAIN,
            &format!("{mode}unqualified-search-registries = [\"127.0.0.1:5000\"]\n"),
        )]);
        let r = c.resolve("team/app:1", false).unwrap();
        assert_eq!(names(&r), ["127.0.0.1:5000/team/app:1"]);
        assert_eq!(r.how, How::Search(MAIN.into()));
    }
    // docker.io as a search registry takes docker's library/.
    let c = conf(&[(MAIN, "unqualified-search-registries = [\"docker.io\"]\n")]);
    assert_eq!(
        names(&c.resolve("alpine", false).unwrap()),
        ["docker.io/library/alpine:latest"]
    );
}

#[test]
fn several_search_registries_by_mode() {
    let list = "unqualified-search-registries = [\"127.0.0.1:5001\", \"quay.io\"]\n";
    let both = ["127.0.0.1:5001/app:latest", "quay.io/app:latest"];
    // Unset is podman's default, permissive: every one, in order.
    for mode in [
        "",
        "short-name-mode = \"\"\n",
        "short-name-mode = \"permissive\"\n",
        "short-name-mode = \"disabled\"\n",
    ] {
        let c = conf(&[(MAIN, &format!("{mode}{list}"))]);
        for tty in [false, true] {
            assert_eq!(names(&c.resolve("app", tty).unwrap()), both, "{mode} {tty}");
        }
    }
    let c = conf(&[(MAIN, &format!("short-name-mode = \"enforcing\"\n{list}"))]);
    let e = c.resolve("app", false).unwrap_err().to_string();
    assert!(
        e.starts_with("short-name resolution enforced but cannot prompt without a TTY")
            && e.contains("127.0.0.1:5001/app:latest or quay.io/app:latest")
            && e.contains(MAIN),
        "{e}"
    );
    let e = c.resolve("app", true).unwrap_err().to_string();
    assert!(e.contains("rless does not prompt"), "{e}");
    // An alias settles it in enforcing mode too.
    let c = conf(&[
        (MAIN, &format!("short-name-mode = \"enforcing\"\n{list}")),
        (DROP, "[aliases]\n\"app\" = \"quay.io/team/app\"\n"),
    ]);
    assert_eq!(
        names(&c.resolve("app", false).unwrap()),
        ["quay.io/team/app:latest"]
    );
}

#[test]
fn aliases_keep_the_tag_or_digest_and_the_cache_comes_first() {
    let mut c = conf(&[(
        MAIN,
        "unqualified-search-registries = [\"127.0.0.1:5000\"]\n\
         [aliases]\n\"app\" = \"quay.io/team/app\"\n\"hub\" = \"docker.io/tool\"\n\
         \"team/tool\" = \"127.0.0.1:5000/elsewhere/tool\"\n",
    )]);
    let r = c.resolve("app:2", false).unwrap();
    assert_eq!(names(&r), ["quay.io/team/app:2"]);
    assert_eq!(r.how, How::Alias(MAIN.into()));
    let r = c.resolve(&format!("app@{DIGEST}"), false).unwrap();
    assert_eq!(names(&r), [format!("quay.io/team/app@{DIGEST}")]);
    assert_eq!(
        names(&c.resolve("hub", false).unwrap()),
        ["docker.io/library/tool:latest"]
    );
    assert_eq!(
        names(&c.resolve("team/tool:1", false).unwrap()),
        ["127.0.0.1:5000/elsewhere/tool:1"]
    );
    // A drop-in replaces one alias and erases another; the rest stay.
    c.add(
        Path::new(DROP),
        "[aliases]\n\"app\" = \"ghcr.io/x/app\"\n\"hub\" = \"\"\n",
    )
    .unwrap();
    assert_eq!(
        names(&c.resolve("app", false).unwrap()),
        ["ghcr.io/x/app:latest"]
    );
    assert_eq!(
        names(&c.resolve("hub", false).unwrap()),
        ["127.0.0.1:5000/hub:latest"]
    );
    // The user's cache comes before every registries.conf.
    c.add_cache(
        Path::new(CACHE),
        "[aliases]\n\"app\" = \"127.0.0.1:5000/cached/app\"\n",
    )
    .unwrap();
    let r = c.resolve("app", false).unwrap();
    assert_eq!(names(&r), ["127.0.0.1:5000/cached/app:latest"]);
    assert_eq!(r.how, How::Alias(CACHE.into()));
}

#[test]
fn drop_ins_replace_the_search_list_and_mode() {
    let c = conf(&[
        (
            MAIN,
            "short-name-mode = \"enforcing\"\nunqualified-search-registries = [\"a.io\", \"b.io\"]\n",
        ),
        (DROP, "unqualified-search-registries = [\"c.io\"]\n"),
    ]);
    assert_eq!(names(&c.resolve("x", false).unwrap()), ["c.io/x:latest"]);
    let c = conf(&[
        (
            MAIN,
            "short-name-mode = \"enforcing\"\nunqualified-search-registries = [\"a.io\", \"b.io\"]\n",
        ),
        (DROP, "short-name-mode = \"permissive\"\n"),
    ]);
    assert_eq!(c.resolve("x", false).unwrap().candidates.len(), 2);
}

#[test]
fn bad_settings_name_their_file() {
    for text in [
        "short-name-mode = \"strict\"\n",
        "unqualified-search-registries = [\"quay.io/team\"]\n",
        "unqualified-search-registries = [\"https://quay.io\"]\n",
        "[aliases]\n\"quay.io/app\" = \"quay.io/app\"\n",
        "[aliases]\n\"app:1\" = \"quay.io/app\"\n",
        "[aliases]\n\"app\" = \"app\"\n",
        "[aliases]\n\"app\" = \"quay.io/app:1\"\n",
        "[aliases]\n\"app\" = \"quay.io/app@sha256:00\"\n",
        "[aliases]\n\"app\" = \"x\"\n\"app\" = \"y\"\n",
    ] {
        let e = RegistriesConf::default()
            .add(Path::new(DROP), text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(DROP), "{text}: {e}");
    }
    let e = RegistriesConf::default()
        .add_cache(Path::new(CACHE), "[aliases]\n\"app\" = \"app\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with(CACHE), "{e}");
}

#[test]
fn local_candidates_follow_podman_then_docker() {
    let c = conf(&[(
        MAIN,
        "unqualified-search-registries = [\"127.0.0.1:5000\", \"docker.io\"]\n\
         [aliases]\n\"app\" = \"quay.io/team/app\"\n",
    )]);
    assert_eq!(
        local(&c, "app:1"),
        [
            "quay.io/team/app:1",
            "localhost/app:1",
            "127.0.0.1:5000/app:1",
            "docker.io/library/app:1",
        ]
    );
    // Docker Hub's name, how rless names what it builds, comes last once.
    let c = conf(&[(
        MAIN,
        "unqualified-search-registries = [\"127.0.0.1:5000\"]\n",
    )]);
    assert_eq!(
        local(&c, "team/app"),
        [
            "localhost/team/app:latest",
            "127.0.0.1:5000/team/app:latest",
            "docker.io/team/app:latest",
        ]
    );
    assert_eq!(local(&c, "quay.io/a:1"), ["quay.io/a:1"]);
    assert!(local(&c, "Not A Name").is_empty());
}

#[test]
fn modes_parse() {
    assert_eq!("enforcing".parse(), Ok(ShortNameMode::Enforcing));
    assert_eq!("permissive".parse(), Ok(ShortNameMode::Permissive));
    assert_eq!("disabled".parse(), Ok(ShortNameMode::Disabled));
    assert!("Enforcing".parse::<ShortNameMode>().is_err());
}

#[test]
fn stored_images_are_found_by_their_candidates_by_name_only() {
    use crate::image::digest::Digest;
    use crate::image::store::{ImageRecord, Index};
    use crate::image::{find_image_in, stored_short_name};
    let record = |seed: &[u8], name: &str| ImageRecord {
        id: Digest::of(seed),
        manifest: Digest::of(b"m"),
        manifest_media_type: String::new(),
        names: vec![name.into()],
        digests: vec![],
        layers: vec![],
        created: 0,
        size: 0,
        architecture: "amd64".into(),
        os: "linux".into(),
        other_manifests: vec![],
        pulled_by_digest: vec![],
        names_history: vec![],
    };
    let mut index = Index::default();
    index
        .images
        .push(record(b"one", "127.0.0.1:5000/app:latest"));
    index
        .images
        .push(record(b"two", "docker.io/library/built:1"));
    let c = conf(&[(
        MAIN,
        "unqualified-search-registries = [\"127.0.0.1:5000\"]\n",
    )]);
    let none = RegistriesConf::default();
    let found = find_image_in(&index, "app", &c).unwrap();
    assert_eq!(found.names, ["127.0.0.1:5000/app:latest"]);
    assert!(
        find_image_in(&index, "app", &none).is_err(),
        "docker's rule"
    );
    assert_eq!(
        stored_short_name(&index, "app", &c).map(|r| r.to_string()),
        Some("127.0.0.1:5000/app:latest".into())
    );
    // What rless names after Docker Hub is found with search registries too.
    assert!(find_image_in(&index, "built:1", &c).is_ok());
    // A short name of hex digits may find an image by id, but names none.
    let hex = &index.images[0].id.hex()[..6].to_string();
    assert!(find_image_in(&index, hex, &c).is_ok());
    assert_eq!(stored_short_name(&index, hex, &c), None);
    // A full name is never resolved further.
    assert_eq!(stored_short_name(&index, "127.0.0.1:5000/app", &c), None);
}

#[test]
fn new_names_of_short_names_are_localhost() {
    let n = |s: &str| local_name(s).map(|r| r.to_string());
    assert_eq!(n("app").unwrap(), "localhost/app:latest");
    assert_eq!(n("app:1").unwrap(), "localhost/app:1");
    assert_eq!(n("team/app").unwrap(), "localhost/team/app:latest");
    assert_eq!(n("localhost/app").unwrap(), "localhost/app:latest");
    assert_eq!(n("127.0.0.1:5000/app:2").unwrap(), "127.0.0.1:5000/app:2");
    assert_eq!(n("docker.io/app").unwrap(), "docker.io/library/app:latest");
    assert_eq!(
        n(&format!("app@{DIGEST}")).unwrap(),
        format!("localhost/app@{DIGEST}")
    );
    assert!(n("Not A Name").is_err());
}
