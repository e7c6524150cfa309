//! `rless image diff IMAGE [IMAGE2]` and `rless diff IMAGE` (podman's):
//! an image's changes against its parent or another image, read from the
//! stored layers as the union sees them (whiteouts, a directory made
//! anew, a file turned into a directory), each line `A|C|D /path`.

mod common;

use common::checks::*;
use common::ctrfs_helpers::*;
use common::for_each_user;

#[test]
fn image_diff_against_parent_and_another_image() {
    for_each_user("image_diff_against_parent_and_another_image", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "--name",
            "c1",
            IMG,
            "sh",
            "-c",
            "echo hi > /f && rm /etc/group && mkdir -p /d/e && echo 1 > /d/e/g && chmod 750 /bin && mkdir /k && echo 1 > /k/old",
        ]);
        let changes = ctx.ok(&["diff", "c1"]).stdout;
        ctx.ok(&["commit", "-q", "c1", "one:v1"]);
        // Against its parent: what the container changed (commit keeps it all).
        let out = ctx.ok(&["image", "diff", "one:v1"]);
        assert_eq!(out.stdout, changes, "{out}");
        assert!(out.stdout.contains("D /etc/group\n"), "{out}");
        assert!(
            out.stdout.contains("A /d/e/g\n") && out.stdout.contains("C /bin\n"),
            "{out}"
        );
        // `diff` of a name no container has is the image's.
        assert_eq!(ctx.ok(&["diff", "one:v1"]).stdout, changes);
        // Against the base named, and the other way round.
        assert_eq!(ctx.ok(&["image", "diff", "one:v1", IMG]).stdout, changes);
        let back = ctx.ok(&["image", "diff", IMG, "one:v1"]).stdout;
        assert!(back.contains("A /etc/group\n"), "{back}");
        assert!(back.contains("D /f\n") && back.contains("D /d\n"), "{back}");
        assert!(
            !back.contains("/d/e"),
            "only the deleted name itself: {back}"
        );
        // An image against itself: nothing.
        assert_eq!(ctx.ok(&["image", "diff", "one:v1", "one:v1"]).stdout, "");

        // A second commit on top: a file where a directory was, a directory
        // where a file was, and a directory removed and made again.
        ctx.ok(&[
            "run",
            "--name",
            "c2",
            "one:v1",
            "sh",
            "-c",
            "rm -r /d && echo now-a-file > /d && rm /f && mkdir /f && echo n > /f/n && rm -r /k && mkdir /k && echo x > /k/only",
        ]);
        ctx.ok(&["commit", "-q", "c2", "two:v1"]);
        let out = ctx.ok(&["image", "diff", "two:v1"]).stdout;
        // The whole list, in order: nothing else changed.
        assert_eq!(
            out, "C /d\nD /d/e\nC /f\nA /f/n\nC /k\nD /k/old\nA /k/only\n",
            "{out}"
        );
        // Bad names: one error line each, docker's code.
        assert_one_error(&ctx.fail(&["image", "diff", "nosuch:img"]), 125);
        assert_one_error(&ctx.fail(&["image", "diff", "one:v1", "nosuch:img"]), 125);
        assert_one_error(&ctx.fail(&["diff", "c1", "one:v1"]), 125);
        ctx.ok(&["rm", "c1", "c2"]);
    });
}

/// `image tree IMAGE` lists its layers bottom first, each image's top
/// layer marked with its names; `--whatrequires` shows the images built on
/// it, branching where two part.
#[test]
fn image_tree_and_whatrequires() {
    for_each_user("image_tree_and_whatrequires", |ctx| {
        if !setup(ctx) {
            return;
        }
        let base_layers = ctx
            .ok(&["image", "tree", IMG])
            .stdout
            .lines()
            .filter(|l| l.starts_with("├── ") || l.starts_with("└── "))
            .count();
        assert!(base_layers >= 1);
        for (c, from, file, to) in [
            ("c1", IMG, "/f", "one:v1"),
            ("c2", "one:v1", "/g", "two:v1"),
            ("c3", "one:v1", "/h", "three:v1"),
        ] {
            ctx.ok(&[
                "run",
                "--name",
                c,
                from,
                "sh",
                "-c",
                &format!("echo x > {file}"),
            ]);
            ctx.ok(&["commit", "-q", c, to]);
        }
        let id =
            |i: &str| ctx.ok(&["images", "-q", "--no-trunc", i]).stdout.trim()[7..19].to_string();
        let out = ctx.ok(&["image", "tree", "two:v1"]).stdout;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("Image ID: {}", id("two:v1")), "{out}");
        assert!(
            lines[1].starts_with("Tags:    [") && lines[1].contains("two:v1"),
            "{out}"
        );
        assert_eq!(lines[3], "Image Layers", "{out}");
        let layers = &lines[4..];
        assert_eq!(layers.len(), base_layers + 2, "{out}");
        assert!(
            layers[base_layers - 1].contains("Top Layer of: [")
                && layers[base_layers - 1].contains(IMG),
            "{out}"
        );
        assert!(layers[base_layers].contains("one:v1]"), "{out}");
        assert!(
            layers[base_layers + 1].starts_with("└──  ID: ")
                && layers[base_layers + 1].contains("two:v1]"),
            "{out}"
        );
        assert!(!out.contains("three"), "{out}");
        // From one:v1's top layer: two and three branch off it.
        let out = ctx
            .ok(&["image", "tree", "--whatrequires", "one:v1"])
            .stdout;
        let layers: Vec<&str> = out.lines().skip(4).collect();
        assert_eq!(layers.len(), 3, "{out}");
        assert!(
            layers[0].starts_with("└──  ID: ") && layers[0].contains("one:v1]"),
            "{out}"
        );
        let kids: Vec<&str> = layers[1..].to_vec();
        assert!(
            kids[0].starts_with("    ├──  ID: ") && kids[1].starts_with("    └──  ID: "),
            "{out}"
        );
        assert!(
            kids.iter().any(|l| l.contains("two:v1]"))
                && kids.iter().any(|l| l.contains("three:v1]")),
            "{out}"
        );
        // A missing image: one line, docker's exit code.
        assert_one_error(&ctx.fail(&["image", "tree", "nosuch"]), 125);
    });
}
