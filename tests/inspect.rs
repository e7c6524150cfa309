//! `inspect` as docker's: the generic `inspect` of an image gives the same
//! object as `image inspect`; several names with unknown ones among them
//! print the objects found, then report the others (exit 125).
//!
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use serde_json::Value;

#[test]
fn inspect_image_gives_the_whole_object() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_image_gives_the_whole_object", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // `inspect IMAGE` is `image inspect IMAGE`: the whole object.
        let t = "{{.Config.Env}} {{.Size}} {{.Architecture}} {{.RootFS.Type}}";
        let img = ctx.ok(&["image", "inspect", "-f", t, IMG]);
        let generic = ctx.ok(&["inspect", "-f", t, IMG]);
        assert_eq!(generic.stdout, img.stdout, "{generic}");
        assert!(img.stdout.contains("PATH="), "{img}");
        assert_eq!(inspect(ctx, IMG), {
            let out = ctx.ok(&["image", "inspect", IMG]);
            serde_json::from_str::<Value>(&out.stdout).unwrap()[0].clone()
        });
    });
}

#[test]
fn inspect_reports_unknown_names_after_the_others() {
    if !have_busybox() {
        return;
    }
    for_each_user("inspect_reports_unknown_names_after_the_others", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Unknown names among known ones: the known ones are printed, each
        // unknown one is reported on its own line, and the command fails.
        ctx.ok(&["create", "--name", "a", IMG, "true"]);
        ctx.ok(&["create", "--name", "b", IMG, "true"]);
        let out = ctx.rless(&["inspect", "-f", "{{.Name}}", "a", "nosuch1", "b", "nosuch2"]);
        assert_eq!(out.code, Some(ERR_EXIT), "{out}");
        assert_eq!(out.stdout, "a\nb\n", "{out}");
        let errs = stderr_lines(&out);
        assert_eq!(errs.len(), 2, "{out}");
        assert!(
            errs[0].starts_with("rless: ") && errs[0].contains("nosuch1"),
            "{out}"
        );
        assert!(
            errs[1].starts_with("rless: ") && errs[1].contains("nosuch2"),
            "{out}"
        );
        // As JSON: an array of the objects found.
        let out = ctx.rless(&["container", "inspect", "nosuch", "a", IMG]);
        assert_one_error(&out, ERR_EXIT);
        let v: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
        assert_eq!(v.as_array().map(|a| a.len()), Some(2), "{out}");
        assert_eq!(v[0]["Name"], "a", "{out}");
        assert!(v[1]["RepoTags"].is_array(), "{out}");
        // `image inspect` the same way.
        let out = ctx.rless(&["image", "inspect", "-f", "{{.Id}}", IMG, "nosuch"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        let out = ctx.rless(&["image", "inspect", "nosuch"]);
        assert_one_error(&out, ERR_EXIT);
        // None found: an error only (docker prints `[]` first).
        assert!(out.stdout.is_empty(), "{out}");
    });
}
