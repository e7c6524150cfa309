//! The local image store: images, inspect, tag, rmi, prune, info, import, reset;
//! load and import of archives compressed with gzip, zstd, xz or bzip2.

mod common;

use common::oci::{
    busybox, busybox_layer, Built, Comp, Format, LayerBuilder, Pushed, Registry, CREATED_UNIX,
};
use common::{for_each_user, host_arch, is_hex64, Ctx};
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn hex(d: &str) -> String {
    d.trim_start_matches("sha256:").to_string()
}

fn names_of(v: &serde_json::Value) -> Vec<String> {
    v["Names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Push a two-layer image (busybox + a small top layer) and pull it.
fn pull_two_layer(ctx: &Ctx, reg: &Registry, repo: &str, tag: &str, top: &str) -> (Built, Pushed) {
    let bb = busybox_layer().unwrap();
    let t = LayerBuilder::new()
        .file(&format!("top-{top}"), top.as_bytes(), 0o644)
        .finish();
    let img = Built::host(Format::Docker, &[(bb, Comp::Gzip), (&t, Comp::Gzip)]);
    let p = reg.push(&ctx.repo(repo), tag, &img);
    assert_eq!(ctx.pull(&[&p.reference]), img.id());
    (img, p)
}

#[test]
fn images_json_and_inspect() {
    let Some(reg) = Registry::open() else { return };
    if busybox_layer().is_none() {
        return;
    }
    for_each_user("images_json", |ctx| {
        assert!(ctx.images_json().is_empty(), "fresh store lists images");
        let (img, p) = pull_two_layer(ctx, &reg, "img", "latest", "x");

        let list = ctx.images_json();
        assert_eq!(list.len(), 1, "{list:?}");
        let e = &list[0];
        assert_eq!(e["Id"], img.id());
        assert!(
            names_of(e).contains(&p.reference),
            "Names {:?} lacks {}",
            e["Names"],
            p.reference
        );
        assert_eq!(e["Digest"], p.manifest_digest);
        assert_eq!(
            e["Created"].as_i64(),
            Some(CREATED_UNIX),
            "Created (unix seconds of config.created)"
        );
        assert!(e["Size"].as_u64().unwrap_or(0) > 0, "Size: {}", e["Size"]);

        let q = ctx.ok(&["images", "-q"]);
        let lines: Vec<&str> = q.stdout.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "images -q: {q}");
        assert!(
            lines[0].len() >= 12 && img.id().starts_with(lines[0]),
            "images -q: {q}"
        );

        for by in [p.reference.as_str(), img.id().as_str()] {
            let i = ctx.inspect(by);
            assert_eq!(i["Id"], img.id(), "inspect {by}");
            assert_eq!(i["Digest"], p.manifest_digest);
            assert!(
                i["RepoTags"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(p.reference))),
                "RepoTags: {}",
                i["RepoTags"]
            );
            assert_eq!(i["Architecture"], host_arch().unwrap_or("amd64"));
            assert_eq!(i["Os"], "linux");
            assert_eq!(i["Config"]["Cmd"], json!(["/bin/sh", "-c", "echo hello"]));
            assert!(
                i["Config"]["Env"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("RLESS_TEST=1"))),
                "Env: {}",
                i["Config"]["Env"]
            );
            assert_eq!(i["RootFS"]["Type"], "layers");
            assert_eq!(i["RootFS"]["Layers"], json!(img.diff_ids()));
        }
        ctx.fail_unchanged(&["image", "inspect", "127.0.0.1:5000/no/such:image"]);
    });
}

#[test]
fn tag_and_untag() {
    let Some(reg) = Registry::open() else { return };
    if busybox_layer().is_none() {
        return;
    }
    for_each_user("tag", |ctx| {
        let (img, p) = pull_two_layer(ctx, &reg, "img", "latest", "t");
        let second = format!("{}/{}:v2", reg.host, ctx.repo("other"));
        ctx.ok(&["tag", &p.reference, &second]);
        let e = ctx.image_entry(&img.id()).expect("image listed");
        let names = names_of(&e);
        assert!(
            names.contains(&p.reference) && names.contains(&second),
            "Names after tag: {names:?}"
        );
        assert_eq!(ctx.inspect(&second)["Id"], img.id());
        assert_eq!(
            ctx.image_ids().len(),
            1,
            "tag must not create a second image"
        );

        // removing one of two names only untags
        let layers = ctx.layer_dirs();
        ctx.ok(&["rmi", &second]);
        let e = ctx
            .image_entry(&img.id())
            .expect("image still there after removing one tag");
        assert_eq!(names_of(&e), vec![p.reference.clone()]);
        assert_eq!(ctx.layer_dirs(), layers, "untag removed layers");
        // So does -f, and a digest reference while a tag remains (docker's
        // rules; both used to delete the image with all its names).
        ctx.ok(&["tag", &p.reference, &second]);
        // A digest the image was not pulled under, though lookups take it
        // (a repo it has a name in, its manifest): not a reference of the
        // image, so rmi changes nothing (it deleted the image, every name
        // with it, found by a bug hunt).
        let unrecorded = format!("{}/{}@{}", reg.host, ctx.repo("other"), p.manifest_digest);
        assert_eq!(ctx.inspect(&unrecorded)["Id"], img.id());
        ctx.fail_unchanged(&["rmi", "-f", &unrecorded]);
        let out = ctx.ok(&["rmi", "-f", &second]);
        assert_eq!(out.stdout.trim(), format!("Untagged: {second}"), "{out}");
        let by_digest = p.by_digest();
        assert_eq!(ctx.inspect(&by_digest)["Id"], img.id());
        let out = ctx.ok(&["rmi", &by_digest]);
        assert_eq!(out.stdout.trim(), format!("Untagged: {by_digest}"), "{out}");
        let e = ctx.image_entry(&img.id()).expect("the image stays");
        assert_eq!(names_of(&e), vec![p.reference.clone()]);
        assert_eq!(e["RepoDigests"], json!([]), "{e}");
        assert_eq!(ctx.layer_dirs(), layers, "untag removed layers");

        ctx.fail_unchanged(&["tag", "127.0.0.1:5000/no/such:image", &second]);
        ctx.fail_unchanged(&["tag", &p.reference, "Bad::Name"]);
    });
}

#[test]
fn rmi_removes_unshared_layers_only() {
    let Some(reg) = Registry::open() else { return };
    if busybox_layer().is_none() {
        return;
    }
    for_each_user("rmi", |ctx| {
        let (a, pa) = pull_two_layer(ctx, &reg, "a", "latest", "a");
        let (b, pb) = pull_two_layer(ctx, &reg, "b", "latest", "b");
        let base = hex(&a.diff_ids()[0]);
        assert_eq!(hex(&b.diff_ids()[0]), base);
        let (top_a, top_b) = (hex(&a.diff_ids()[1]), hex(&b.diff_ids()[1]));
        assert_eq!(ctx.layer_dirs(), set([&base, &top_a, &top_b]));

        // A name made of hex digits, the start of a's id, given to b: the
        // name wins, as in docker (it was taken for a's id prefix, and rmi
        // deleted a).
        let hexname = a.id()[..6].to_string();
        ctx.ok(&["tag", &pb.reference, &hexname]);
        assert_eq!(ctx.inspect(&hexname)["Id"], b.id());
        let out = ctx.ok(&["rmi", &hexname]);
        assert_eq!(
            out.stdout.trim(),
            format!("Untagged: localhost/{hexname}:latest"),
            "{out}"
        );
        assert_eq!(ctx.image_ids(), set([&a.id(), &b.id()]));
        ctx.ok(&["rmi", &pa.reference]);
        assert_eq!(ctx.image_ids(), set([&b.id()]));
        assert_eq!(
            ctx.layer_dirs(),
            set([&base, &top_b]),
            "only a's own layer goes"
        );
        assert!(
            !ctx.blob_path(&a.config_digest()).exists(),
            "a's config blob left behind"
        );
        assert!(ctx.blob_path(&b.config_digest()).exists());

        // by id this time, and by a name of the same image after it (the
        // name was gone by then: the command failed with the id's removal
        // saved and unreported, its layers left behind)
        let out = ctx.ok(&["rmi", &b.id(), &pb.reference, &pb.reference]);
        assert!(out.stdout.contains("Deleted: "), "{out}");
        assert!(ctx.image_ids().is_empty());
        assert!(
            ctx.layer_dirs().is_empty(),
            "layers left: {:?}",
            ctx.layer_dirs()
        );

        // Gone: podman's status for a name that does not exist is 1; -f
        // and -i pass over it.
        ctx.fail_code_unchanged(&["rmi", &pa.reference], 1);
        ctx.fail_code_unchanged(&["rmi", &"f".repeat(64)], 1);
        for flag in ["-f", "-i", "--ignore"] {
            let before = ctx.snapshot();
            let out = ctx.ok(&["rmi", flag, &pa.reference]);
            assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
            ctx.snapshot().assert_same(&before, &out.cmdline);
        }

        // Each name in turn, as docker: the unknown one is reported, the
        // others are removed.
        let (c, pc) = pull_two_layer(ctx, &reg, "c", "latest", "c");
        let (d, pd) = pull_two_layer(ctx, &reg, "d", "latest", "d");
        let out = ctx.rless(&["rmi", &pc.reference, "nosuch:v1", &pd.reference]);
        assert_eq!(out.code, Some(1), "{out}");
        assert_eq!(out.stderr, "rless: image not known: nosuch:v1\n", "{out}");
        for id in [c.id(), d.id()] {
            let deleted = |l: &str| l.starts_with("Deleted: ") && l.ends_with(&id);
            assert!(out.stdout.lines().any(deleted), "{out}");
        }
        assert!(ctx.image_ids().is_empty() && ctx.layer_dirs().is_empty());
    });
}

#[test]
fn image_prune_dangling_then_all() {
    let Some(reg) = Registry::open() else { return };
    if busybox_layer().is_none() {
        return;
    }
    for_each_user("prune", |ctx| {
        let (old, _) = pull_two_layer(ctx, &reg, "img", "latest", "old");
        // the tag moves to a new image: the old one becomes dangling
        let (new, _) = pull_two_layer(ctx, &reg, "img", "latest", "new");
        let (keep, _) = pull_two_layer(ctx, &reg, "keep", "latest", "keep");
        let old_entry = ctx.image_entry(&old.id()).expect("old image still stored");
        assert!(
            names_of(&old_entry).is_empty(),
            "old image should be untagged: {old_entry}"
        );

        ctx.ok(&["image", "prune"]);
        assert_eq!(ctx.image_ids(), set([&new.id(), &keep.id()]));
        assert!(
            !ctx.layer_dirs().contains(&hex(&old.diff_ids()[1])),
            "dangling image's layer kept"
        );
        assert!(
            ctx.layer_dirs().contains(&hex(&old.diff_ids()[0])),
            "shared base removed"
        );

        ctx.ok(&["image", "prune", "-a"]);
        assert!(ctx.image_ids().is_empty(), "prune -a left images");
        assert!(
            ctx.layer_dirs().is_empty(),
            "prune -a left layers: {:?}",
            ctx.layer_dirs()
        );
    });
}

#[test]
fn info_reports_id_mapping_mode() {
    for_each_user("info", |ctx| {
        let out = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("info json ({e}): {out}"));
        assert_eq!(
            v["IdMapping"]["Mode"],
            ctx.user.mode.as_str(),
            "IdMapping for {}: {out}",
            ctx.user.name
        );
        assert!(
            v["IdMapping"]["Reason"].is_string(),
            "IdMapping.Reason: {out}"
        );
        let root = v["Store"]["Root"]
            .as_str()
            .unwrap_or_else(|| panic!("Store.Root: {out}"));
        assert_eq!(
            fs::canonicalize(root).ok().unwrap_or_else(|| root.into()),
            fs::canonicalize(&ctx.root).unwrap(),
            "Store.Root"
        );
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(
            v["Host"]["Kernel"].as_str(),
            Some(kernel.trim()),
            "Host.Kernel: {out}"
        );
        let cg = &v["Host"]["CgroupVersion"];
        assert!(!cg.is_null(), "Host.CgroupVersion: {out}");
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            assert!(
                cg.to_string().contains('2'),
                "cgroup v2 host, CgroupVersion {cg}"
            );
        }
    });
}

#[test]
fn system_reset_deletes_store() {
    let Some(reg) = Registry::open() else { return };
    if busybox_layer().is_none() {
        return;
    }
    for_each_user("reset", |ctx| {
        pull_two_layer(ctx, &reg, "img", "latest", "r");
        ctx.ok(&["system", "reset", "-f"]);
        let left = common::list_names(&ctx.root);
        assert!(left.is_empty(), "store not empty after reset: {left:?}");
        assert!(ctx.images_json().is_empty());
    });
}

// ------------------------------------------------------------------ import

fn rootfs_tar(bb: &[u8]) -> Vec<u8> {
    LayerBuilder::new()
        .busybox(bb)
        .file("etc/hostname", b"imported\n", 0o644)
        .file_owned("etc/owned", b"x", 0o640, 1000, 1000)
        .finish()
}

/// Check an imported image; returns its single layer's diff dir.
fn check_import(ctx: &Ctx, id: &str, name: &str) -> std::path::PathBuf {
    // docker's and podman's form: sha256:HEX.
    let id = id
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("import must print sha256:ID, got {id:?}"));
    assert!(is_hex64(id), "import must print a 64-hex id, got {id:?}");
    let e = ctx.image_entry(id).expect("imported image listed");
    assert!(
        names_of(&e)
            .iter()
            .any(|n| n == name || n.ends_with(&format!("/{name}"))),
        "Names {:?} lack {name}",
        e["Names"]
    );
    let i = ctx.inspect(id);
    let layers = i["RootFS"]["Layers"]
        .as_array()
        .expect("RootFS.Layers")
        .clone();
    assert_eq!(layers.len(), 1, "imported image has one layer: {i}");
    let diff = ctx.layer_diff(layers[0].as_str().unwrap());
    let bb = busybox().unwrap();
    assert_eq!(
        fs::metadata(diff.join("bin/busybox")).unwrap().len(),
        bb.len() as u64
    );
    assert_eq!(
        fs::read_link(diff.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(fs::read(diff.join("etc/hostname")).unwrap(), b"imported\n");
    diff
}

#[test]
fn import_tar_file_and_stdin() {
    let Some(bb) = busybox() else { return };
    let tar = rootfs_tar(bb);
    for_each_user("import_tar", |ctx| {
        let file = ctx.write_file("rootfs.tar", &tar);
        let out = ctx.ok(&["import", file.to_str().unwrap(), "imp-file:v1"]);
        let id = out.last_line().to_string();
        let diff = check_import(ctx, &id, "imp-file:v1");
        let (uid, gid, mode) = common::owner_mode(&diff.join("etc/owned"));
        assert_eq!(
            (uid, gid, mode),
            (ctx.user.host_uid(1000), ctx.user.host_gid(1000), 0o640),
            "etc/owned"
        );

        let out = ctx.rless_stdin(&["import", "-", "imp-stdin"], &tar);
        assert!(out.success(), "import from stdin: {out}");
        let id2 = out.last_line().to_string();
        check_import(ctx, &id2, "imp-stdin:latest");

        // bad inputs
        let junk = ctx.write_file(
            "junk.tar",
            b"this is not a tar archive at all, just some bytes\n",
        );
        ctx.fail_unchanged(&["import", junk.to_str().unwrap(), "imp-junk"]);
        ctx.fail_unchanged(&[
            "import",
            ctx.work.join("missing.tar").to_str().unwrap(),
            "imp-missing",
        ]);
        ctx.fail_unchanged(&["import", file.to_str().unwrap(), "BAD::name"]);
    });
}

/// docker's `import -c`, `-m` and optional name: the changes and the
/// message are in the image's config; a bad change stores nothing; without
/// a name the image has none.
#[test]
fn import_changes_message_and_no_name() {
    let Some(bb) = busybox() else { return };
    let tar = rootfs_tar(bb);
    for_each_user("import_changes", |ctx| {
        let file = ctx.write_file("rootfs.tar", &tar);
        let f = file.to_str().unwrap();
        let out = ctx.ok(&[
            "import",
            "-c",
            "ENV A=1",
            "--change",
            "CMD [\"sh\", \"-c\", \"echo $A\"]",
            "-c",
            "WORKDIR /etc",
            "-m",
            "from a tar",
            f,
            "imp-c:v1",
        ]);
        let id = out.last_line().to_string();
        check_import(ctx, &id, "imp-c:v1");
        let i = ctx.inspect("imp-c:v1");
        assert_eq!(i["Comment"], "from a tar", "{i}");
        assert_eq!(i["Config"]["WorkingDir"], "/etc", "{i}");
        assert_eq!(i["Config"]["Cmd"], json!(["sh", "-c", "echo $A"]), "{i}");
        let env = i["Config"]["Env"].to_string();
        assert!(env.contains("A=1") && env.contains("PATH="), "{i}");
        let hist = ctx.ok(&["history", "--format", "{{.Comment}}", "imp-c:v1"]);
        assert_eq!(hist.stdout.trim(), "from a tar", "{hist}");
        // A bad change: refused before anything is stored.
        let out = ctx.fail_unchanged(&["import", "-c", "RUN rm -rf /", f, "imp-bad"]);
        assert!(out.stderr.contains("RUN"), "{out}");
        // No name: an image without one.
        let out = ctx.ok(&["import", f]);
        let id = out.last_line().trim_start_matches("sha256:").to_string();
        assert!(is_hex64(&id), "{out}");
        let e = ctx.image_entry(&id).expect("listed");
        assert!(names_of(&e).is_empty(), "{e}");
    });
}

#[test]
fn import_directory() {
    let Some(bb) = busybox() else { return };
    for_each_user("import_dir", |ctx| {
        let dir = ctx.work.join("rootfs");
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("bin/busybox"), bb).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("busybox", dir.join("bin/sh")).unwrap();
        fs::write(dir.join("etc/hostname"), b"imported\n").unwrap();
        ctx.give_tree(&dir);
        let out = ctx.ok(&["import", dir.to_str().unwrap(), "imp-dir:v1"]);
        let id = out.last_line().to_string();
        let diff = check_import(ctx, &id, "imp-dir:v1");
        let (_, _, mode) = common::owner_mode(&diff.join("bin/busybox"));
        assert_eq!(mode, 0o755);
    });
}

#[test]
fn import_hostile_tars_stay_inside() {
    if busybox().is_none() {
        return;
    }
    for_each_user("import_hostile", |ctx| {
        ctx.ok(&["images"]);
        for (case, tar) in common::hostile::hostile_tars(&ctx.work) {
            common::hostile::prepare_outside(ctx);
            let file = ctx.write_file(&format!("{case}.tar"), &tar);
            let before = ctx.snapshot();
            let out = ctx.rless(&["import", file.to_str().unwrap(), &format!("hostile-{case}")]);
            if !out.success() {
                out.assert_rless_error();
                ctx.snapshot()
                    .assert_same(&before, &format!("hostile import {case}"));
            }
            common::hostile::assert_no_escape(ctx, case);
            let out = ctx.rless_stdin(&["import", "-", &format!("hostile-stdin-{case}")], &tar);
            if !out.success() {
                out.assert_rless_error();
            }
            common::hostile::assert_no_escape(ctx, case);
        }
    });
}

// ------------------------------------------------------------------ compressed archives

/// `data` compressed as a whole with `format` (gzip, zstd, xz, bzip2).
fn compress_whole(data: &[u8], format: &str) -> Vec<u8> {
    use std::io::Write;
    match format {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        "xz" => {
            let mut e =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                    .unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bzip2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        other => panic!("no compression {other}"),
    }
}

/// `load` takes an archive compressed as a whole with gzip, zstd, xz or
/// bzip2 (from a file and from standard input), and `import` a root
/// filesystem tar compressed so, as docker does; a file that is no archive
/// is reported in words, without the binary bytes of its header.
#[test]
fn load_and_import_compressed_archives() {
    let Some(bb) = busybox() else { return };
    let tar = rootfs_tar(bb);
    for_each_user("load_and_import_compressed", |ctx| {
        let file = ctx.write_file("rootfs.tar", &tar);
        let out = ctx.ok(&["import", file.to_str().unwrap(), "orig"]);
        let id = out.last_line().trim_start_matches("sha256:").to_string();
        let saved = ctx.work.join("saved.tar");
        ctx.ok(&["save", "-o", saved.to_str().unwrap(), "orig"]);
        let archive = fs::read(&saved).unwrap();
        for format in ["gzip", "zstd", "xz", "bzip2"] {
            let packed = compress_whole(&archive, format);
            let f = ctx.write_file(&format!("saved.tar.{format}"), &packed);
            ctx.ok(&["rmi", "orig"]);
            let out = ctx.rless(&["load", "-q", "-i", f.to_str().unwrap()]);
            assert!(out.success(), "load of a {format} archive: {out}");
            assert!(
                ctx.image_entry(&id).is_some(),
                "{format}: not loaded: {out}"
            );
            ctx.ok(&["rmi", "orig"]);
            let out = ctx.rless_stdin(&["load", "-q"], &packed);
            assert!(
                out.success(),
                "load of a {format} archive from stdin: {out}"
            );
            assert!(ctx.image_entry(&id).is_some(), "{format} (stdin): {out}");

            let f = ctx.write_file(
                &format!("rootfs.tar.{format}"),
                &compress_whole(&tar, format),
            );
            let name = format!("imp-{format}:latest");
            let out = ctx.rless(&["import", f.to_str().unwrap(), &name]);
            assert!(out.success(), "import of a {format} tar: {out}");
            check_import(ctx, out.last_line(), &name);
        }

        let junk: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let junk = ctx.write_file("junk.bin", &junk);
        for cmd in [&["load", "-i"][..], &["import"][..]] {
            let mut a = cmd.to_vec();
            a.push(junk.to_str().unwrap());
            if cmd[0] == "import" {
                a.push("junkimg");
            }
            let out = ctx.fail(&a);
            assert!(
                out.stderr
                    .chars()
                    .all(|c| c.is_ascii_graphic() || c == ' ' || c == '\n'),
                "{cmd:?} of binary junk must say what is wrong in words: {out}"
            );
            assert!(out.stderr.contains("not a tar archive"), "{out}");
        }

        // A plain tar whose first name starts with bzip2's "BZh" is a tar
        // (it was taken for bzip2: "bzip2: invalid data").
        let named = LayerBuilder::new()
            .file("BZh1-notes.txt", b"notes\n", 0o644)
            .finish();
        assert!(named.starts_with(b"BZh1"));
        let f = ctx.write_file("bzh.tar", &named);
        ctx.ok(&["import", f.to_str().unwrap(), "bzh"]);
        let out = ctx.rless_stdin(&["import", "-", "bzh2"], &named);
        assert!(out.success(), "import - of a tar named BZh…: {out}");
    });
}
