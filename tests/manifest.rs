//! podman's manifest lists: `manifest create|add|inspect|annotate|remove|
//! rm|push|exists` against the rig's registry. A list of a local image
//! and a remote one (pulled by `add`) of another architecture is pushed
//! with its images; `pull` of it picks the platform; `manifest rm`
//! leaves the images. Bad input: a missing list, a missing image (local
//! or remote), a missing entry, a registry that refuses the push.

mod common;

use common::checks::assert_one_error;
use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, is_hex64, other_arch, ERR_EXIT};
use serde_json::Value;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The index under `repo:tag`, as the registry serves it.
fn index(host: &str, repo: &str, tag: &str) -> Value {
    let mut resp = ureq::get(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header("Accept", format!("{OCI_INDEX}, {DOCKER_LIST}"))
        .call()
        .expect("GET index");
    serde_json::from_reader(resp.body_mut().as_reader()).expect("index json")
}

fn inspect(ctx: &common::Ctx, list: &str) -> Value {
    let out = ctx.ok(&["manifest", "inspect", list]);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn manifest_lists_push_and_pull_by_platform() {
    let Some(reg) = Registry::open() else { return };
    let Some(host_arch) = common::host_arch_or_skip() else {
        return;
    };
    let other = other_arch();
    let la = LayerBuilder::new().file("a", b"host\n", 0o644).finish();
    let lb = LayerBuilder::new().file("b", b"other\n", 0o644).finish();
    for_each_user("manifest_lists_push_and_pull_by_platform", |ctx| {
        let mine = Built::host(Format::Oci, &[(&la, Comp::Gzip)]);
        let theirs = Built::new(Format::Oci, other, &[(&lb, Comp::Gzip)]);
        let local = reg.push(&ctx.repo("local"), "t", &mine);
        let remote = reg.push(&ctx.repo("remote"), "t", &theirs);
        ctx.pull(&[&local.reference]);

        let out = ctx.ok(&["manifest", "create", "ml"]);
        let id = out.stdout.trim().to_string();
        assert!(is_hex64(&id), "{out}");
        let out = ctx.ok(&["manifest", "add", "ml", &local.reference]);
        assert_eq!(out.stdout.trim(), id);
        // Remote: pulled first (it was not in the store).
        let remote_ref = format!("docker://{}", remote.reference);
        ctx.ok(&[
            "manifest",
            "add",
            "--annotation",
            "k=v",
            "--variant",
            "vx",
            "ml",
            &remote_ref,
        ]);
        ctx.ok(&["image", "exists", &remote.reference]);
        // Its tag moves on to another image: the list's stays, pulled by
        // digest, through a prune.
        let newer = Built::new(Format::Oci, other, &[(&la, Comp::Gzip)]);
        reg.push(&ctx.repo("remote"), "t", &newer);
        let plat = format!("linux/{other}");
        assert_eq!(
            ctx.pull(&["--platform", &plat, &remote.reference]),
            newer.id()
        );
        ctx.ok(&["image", "prune", "-f"]);
        ctx.ok(&["image", "exists", &theirs.id()]);
        let j = inspect(ctx, "ml");
        assert_eq!(inspect(ctx, &id[..12]), j, "found by its id too");
        assert_eq!(j["schemaVersion"], 2, "{j}");
        assert_eq!(j["mediaType"], OCI_INDEX, "{j}");
        let m = j["manifests"].as_array().expect("manifests");
        assert_eq!(m.len(), 2, "{j}");
        assert_eq!(m[0]["digest"], local.manifest_digest.as_str());
        assert_eq!(m[0]["size"], local.manifest_size);
        assert_eq!(m[0]["platform"]["architecture"], host_arch);
        assert_eq!(m[1]["digest"], remote.manifest_digest.as_str());
        assert_eq!(m[1]["platform"]["architecture"], other);
        assert_eq!(m[1]["platform"]["variant"], "vx");
        assert_eq!(m[1]["annotations"]["k"], "v");
        // annotate: an entry, and the list itself.
        ctx.ok(&[
            "manifest",
            "annotate",
            "--annotation",
            "x=y",
            "ml",
            &remote.manifest_digest,
        ]);
        ctx.ok(&[
            "manifest",
            "annotate",
            "--index",
            "--annotation",
            "top=1",
            "ml",
        ]);
        let j = inspect(ctx, "ml");
        assert_eq!(j["manifests"][1]["annotations"]["x"], "y", "{j}");
        assert_eq!(j["annotations"]["top"], "1", "{j}");
        ctx.ok(&[
            "manifest",
            "annotate",
            "--variant",
            "",
            "ml",
            &remote.manifest_digest,
        ]);

        // Pushed with its images; pull picks the platform.
        let repo = ctx.repo("list");
        let dest = format!("{}/{repo}:v1", reg.host);
        let digestfile = ctx.work.join("digest");
        let df = digestfile.display().to_string();
        let out = ctx.ok(&["manifest", "push", "--digestfile", &df, "ml", &dest]);
        let pushed = out.stdout.trim().to_string();
        assert!(pushed.starts_with("sha256:"), "{out}");
        assert_eq!(std::fs::read_to_string(&digestfile).unwrap(), pushed);
        let got = index(&reg.host, &repo, "v1");
        assert_eq!(got["mediaType"], OCI_INDEX, "{got}");
        assert_eq!(got["manifests"].as_array().map(Vec::len), Some(2), "{got}");
        assert_eq!(
            got["manifests"][0]["digest"],
            local.manifest_digest.as_str()
        );
        // inspect of a name no local list has: the registry's.
        let remote_index = ctx.ok(&["manifest", "inspect", &dest]);
        assert!(
            remote_index.stdout.contains(&remote.manifest_digest),
            "{remote_index}"
        );
        // In docker's format: each image's manifest is converted (a new
        // digest), and the list names what was pushed.
        let repo2 = ctx.repo("list2");
        let dest2 = format!("{}/{repo2}:v2", reg.host);
        ctx.ok(&["manifest", "push", "--format", "v2s2", "ml", &dest2]);
        let got = index(&reg.host, &repo2, "v2");
        assert_eq!(got["mediaType"], DOCKER_LIST, "{got}");
        let first = got["manifests"][0]["digest"].as_str().unwrap_or_default();
        assert_ne!(first, local.manifest_digest, "{got}");
        ctx.ok(&["rmi", "-f", &local.reference, &remote.reference]);
        assert_eq!(ctx.pull(&[&dest2]), mine.id());
        assert_eq!(ctx.pull(&[&dest]), mine.id());
        assert_eq!(ctx.pull(&["--platform", &plat, &dest]), theirs.id());

        // rm: the list goes, its images stay.
        let out = ctx.ok(&["manifest", "rm", "ml"]);
        assert!(out.stdout.contains(&format!("Deleted: {id}")), "{out}");
        let gone = ctx.rless(&["manifest", "exists", "ml"]);
        assert_eq!(gone.code, Some(1), "{gone}");
        ctx.ok(&["image", "exists", &dest]);
    });
}

#[test]
fn manifest_add_all_of_a_remote_list() {
    let Some(reg) = Registry::open() else { return };
    let la = LayerBuilder::new().file("a", b"amd\n", 0o644).finish();
    let lb = LayerBuilder::new().file("b", b"arm\n", 0o644).finish();
    for_each_user("manifest_add_all_of_a_remote_list", |ctx| {
        let amd = Built::new(Format::Oci, "amd64", &[(&la, Comp::Gzip)]);
        let arm = Built::new(Format::Oci, "arm64", &[(&lb, Comp::Gzip)]);
        let repo = ctx.repo("multi");
        reg.push_index(&repo, "m", &[("amd64", &amd), ("arm64", &arm)]);
        let src = format!("docker://{}/{repo}:m", reg.host);
        ctx.ok(&["manifest", "create", "--all", "mm", &src]);
        let j = inspect(ctx, "mm");
        let m = j["manifests"].as_array().expect("manifests");
        assert_eq!(m.len(), 2, "{j}");
        assert_eq!(m[0]["digest"], amd.manifest_digest().as_str(), "{j}");
        assert_eq!(m[1]["digest"], arm.manifest_digest().as_str(), "{j}");
        assert_eq!(m[1]["platform"]["variant"], "v8", "{j}");
        // Pulled by digest: not dangling, so a prune leaves them.
        ctx.ok(&["image", "prune", "-f"]);
        let dest = format!("{}/{}:copy", reg.host, ctx.repo("copy"));
        ctx.ok(&["manifest", "push", "mm", &dest]);
        assert_eq!(ctx.pull(&["--platform", "linux/arm64", &dest]), arm.id());
        // Not a list.
        let single = reg.push(&ctx.repo("single"), "s", &amd);
        let single = format!("docker://{}", single.reference);
        assert_one_error(
            &ctx.rless(&["manifest", "add", "--all", "mm", &single]),
            ERR_EXIT,
        );
    });
}

#[test]
fn manifest_bad_input() {
    let Some(reg) = Registry::open() else { return };
    let Some(auth) = Registry::auth() else { return };
    let la = LayerBuilder::new().file("a", b"bad\n", 0o644).finish();
    for_each_user("manifest_bad_input", |ctx| {
        let img = Built::host(Format::Oci, &[(&la, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("img"), "t", &img);
        ctx.pull(&[&p.reference]);
        // No such list.
        assert_one_error(
            &ctx.rless(&["manifest", "add", "nosuch", &p.reference]),
            ERR_EXIT,
        );
        assert_one_error(&ctx.rless(&["manifest", "inspect", "nosuch"]), ERR_EXIT);
        assert_one_error(
            &ctx.rless(&["manifest", "push", "nosuch", &p.reference]),
            ERR_EXIT,
        );
        let out = ctx.rless(&["manifest", "rm", "nosuch"]);
        assert_one_error(&out, 1);
        // A name that is an image's, a list made twice.
        assert_one_error(&ctx.rless(&["manifest", "create", &p.reference]), ERR_EXIT);
        ctx.ok(&["manifest", "create", "bl"]);
        assert_one_error(&ctx.rless(&["manifest", "create", "bl"]), ERR_EXIT);
        ctx.ok(&["manifest", "create", "--amend", "bl"]);
        // Missing images: local only, and remote.
        let missing = format!("{}/{}:none", reg.host, ctx.repo("missing"));
        let before = inspect(ctx, "bl");
        assert_one_error(
            &ctx.rless(&["manifest", "add", "bl", "containers-storage:nosuch"]),
            ERR_EXIT,
        );
        assert_one_error(&ctx.rless(&["manifest", "add", "bl", &missing]), ERR_EXIT);
        assert_eq!(inspect(ctx, "bl"), before);
        // No such entry.
        ctx.ok(&["manifest", "add", "bl", &p.reference]);
        let zeros = format!("sha256:{}", "0".repeat(64));
        assert_one_error(&ctx.rless(&["manifest", "remove", "bl", &zeros]), ERR_EXIT);
        assert_one_error(
            &ctx.rless(&["manifest", "annotate", "--arch", "x", "bl", &zeros]),
            ERR_EXIT,
        );
        assert_one_error(
            &ctx.rless(&[
                "manifest",
                "add",
                "--annotation",
                "novalue",
                "bl",
                &p.reference,
            ]),
            ERR_EXIT,
        );
        // Registries that refuse: no credentials; an index whose images
        // the repository lacks (--all=false).
        let denied = format!("{}/{}:v1", auth.host, ctx.repo("denied"));
        assert_one_error(&ctx.rless(&["manifest", "push", "bl", &denied]), ERR_EXIT);
        let bare = format!("{}/{}:v1", reg.host, ctx.repo("bare"));
        let out = ctx.rless(&["manifest", "push", "--all=false", "bl", &bare]);
        assert_one_error(&out, ERR_EXIT);
        // The registry's own words, not just its status.
        assert!(out.stderr.contains("MANIFEST"), "{out}");
        // remove takes the entry out.
        ctx.ok(&["manifest", "remove", "bl", &p.manifest_digest]);
        let j = inspect(ctx, "bl");
        assert_eq!(j["manifests"].as_array().map(Vec::len), Some(0), "{j}");
        ctx.ok(&["manifest", "rm", "bl"]);
        ctx.ok(&["image", "exists", &p.reference]);
        // podman's rmi of a list: the list goes (by name or id), its
        // images stay; a name that is neither is still an error.
        let id = create_list(ctx, "rl");
        // podman's images shows the list as an image of its own (its
        // repository as the store's short-name rules show `rl`).
        let shown = |ctx: &common::Ctx| {
            let out = ctx.ok(&["images", "--format", "{{.ID}} {{.Repository}} {{.Tag}}"]);
            out.stdout.lines().any(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                f.len() == 3 && f[0] == &id[..12] && f[1].ends_with("rl") && f[2] == "latest"
            })
        };
        assert!(shown(ctx), "images shows no list");
        let out = ctx.ok(&["rmi", "rl"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].starts_with("Untagged: ") && lines[0].ends_with("rl:latest"),
            "{out}"
        );
        assert_eq!(lines[1], format!("Deleted: {id}"), "{out}");
        assert_eq!(ctx.rless(&["manifest", "exists", "rl"]).code, Some(1));
        assert!(!shown(ctx), "images shows a removed list");
        ctx.ok(&["image", "exists", &p.reference]);
        let id = create_list(ctx, "rl2");
        let out = ctx.ok(&["rmi", &id[..12]]);
        assert!(out.stdout.contains(&format!("Deleted: {id}")), "{out}");
        assert_eq!(ctx.rless(&["manifest", "exists", "rl2"]).code, Some(1));
        assert_one_error(&ctx.rless(&["rmi", "rl"]), 1);
    });
}

/// podman's: a list is an image to `image exists`, `image inspect` and
/// `inspect` (its image for this host's platform), and `images`' filters
/// take it (before=LIST, since=LIST; label= and reference= with lists in
/// the store).
#[test]
fn manifest_list_as_an_image() {
    let Some(reg) = Registry::open() else { return };
    let la = LayerBuilder::new().file("a", b"as image\n", 0o644).finish();
    let lb = LayerBuilder::new().file("b", b"other\n", 0o644).finish();
    for_each_user("manifest_list_as_an_image", |ctx| {
        let mine = Built::host(Format::Oci, &[(&la, Comp::Gzip)]);
        let theirs = Built::new(Format::Oci, other_arch(), &[(&lb, Comp::Gzip)]);
        let local = reg.push(&ctx.repo("img"), "t", &mine);
        let remote = reg.push(&ctx.repo("other"), "t", &theirs);
        ctx.pull(&[&local.reference]);
        create_list(ctx, "il");
        // The other platform's image first: inspect picks this host's.
        ctx.ok(&[
            "manifest",
            "add",
            "il",
            &format!("docker://{}", remote.reference),
        ]);
        ctx.ok(&["manifest", "add", "il", &local.reference]);
        let empty = create_list(ctx, "el");
        for list in ["il", "el", &empty[..12]] {
            let out = ctx.rless(&["image", "exists", list]);
            assert_eq!(out.code, Some(0), "{list}: {out}");
        }
        assert_eq!(ctx.rless(&["image", "exists", "nosuchlist"]).code, Some(1));
        for cmd in [
            &["image", "inspect"][..],
            &["inspect"],
            &["inspect", "--type", "image"],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--format", "{{.Id}}", "il"]);
            let out = ctx.ok(&args);
            assert_eq!(
                out.stdout.trim(),
                mine.id().trim_start_matches("sha256:"),
                "{cmd:?}: {out}"
            );
            // A list with no image for this platform: one line naming it.
            let mut args = cmd.to_vec();
            args.push("el");
            let out = ctx.rless(&args);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("el"), "{cmd:?}: {out}");
        }
        // image tree of a list: its image's, as podman looks it up.
        let out = ctx.ok(&["image", "tree", "il"]);
        let id = mine.id();
        let short = &id.trim_start_matches("sha256:")[..12];
        assert!(
            out.stdout.starts_with(&format!("Image ID: {short}\n")),
            "{out}"
        );
        // images' filters with lists in the store.
        let rows = |filter: &str| {
            let out = ctx.ok(&["images", "--filter", filter, "--format", "{{.Repository}}"]);
            out.stdout.lines().map(String::from).collect::<Vec<_>>()
        };
        for f in [
            "before=il",
            "since=il",
            "since=el",
            "label=nosuch",
            "reference=*il",
        ] {
            rows(f);
        }
        assert!(rows("reference=*il").iter().any(|r| r.ends_with("il")));
        assert!(rows("label=nosuch").is_empty());
        // The list was made after the images were: since it, none of them.
        let since = rows("since=il");
        assert!(!since.iter().any(|r| r.contains("img")), "{since:?}");
    });
}

/// Makes the empty list `name`; its id, as `manifest create` prints it.
fn create_list(ctx: &common::Ctx, name: &str) -> String {
    let id = ctx
        .ok(&["manifest", "create", name])
        .stdout
        .trim()
        .to_string();
    assert!(is_hex64(&id), "{id}");
    id
}
