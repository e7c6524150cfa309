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
