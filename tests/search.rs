//! `rless search` against the local registries: the catalog searched for
//! a term (a full match first, `--limit`, `--format`), a repository's tags
//! (`--list-tags`), and the errors (a bad filter, a registry that cannot be
//! reached or wants credentials, a repository that is not there).
//! Docker Hub's search API is not reachable here; its answers are parsed
//! in `search.rs`'s unit tests.

mod common;

use common::checks::assert_one_error;
use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, Ctx, ERR_EXIT};

/// A name no earlier run pushed: the registry outlives test runs.
fn fresh_term(ctx: &Ctx) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("srch-{}-{nonce}", ctx.user.name)
}

fn lines(out: &common::out::Out) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn search_catalog_and_tags() {
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new().file("f", b"search\n", 0o644).finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("search_catalog_and_tags", |ctx| {
        let term = fresh_term(ctx);
        let host = &reg.host;
        // The catalog is sorted: `a/TERM` comes before `TERM`, which must
        // still be listed first as the full match.
        for (repo, tag) in [
            (term.clone(), "1"),
            (term.clone(), "2"),
            (format!("a/{term}"), "1"),
        ] {
            reg.push(&repo, tag, &img);
        }
        reg.push(&format!("{term}x-unrelated"), "1", &img);

        let out = ctx.ok(&["search", &format!("{host}/{term}")]);
        let got = lines(&out);
        assert_eq!(
            got[0].split_whitespace().collect::<Vec<_>>(),
            ["NAME", "DESCRIPTION"],
            "{out}"
        );
        assert_eq!(
            &got[1..],
            [
                format!("{host}/{term}"),
                format!("{host}/a/{term}"),
                format!("{host}/{term}x-unrelated"),
            ],
            "{out}"
        );
        // At most one (which one depends on where the catalog's pages
        // break: the search stops at the limit, as podman's).
        let out = ctx.ok(&["search", "--limit", "1", &format!("{host}/{term}")]);
        assert_eq!(lines(&out)[1..].len(), 1, "{out}");
        assert!(lines(&out)[1].contains(&term), "{out}");

        let out = ctx.ok(&["search", "--format", "json", &format!("{host}/a/{term}")]);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(doc[0]["Index"], host.as_str(), "{out}");
        assert_eq!(doc[0]["Name"], format!("{host}/a/{term}"), "{out}");
        assert_eq!(doc.as_array().map(Vec::len), Some(1), "{out}");

        let out = ctx.ok(&[
            "search",
            "--format",
            "{{.Index}}|{{.Name}}",
            &format!("{host}/a/{term}"),
        ]);
        assert_eq!(out.stdout, format!("{host}|{host}/a/{term}\n"));
        // docker's columns; no stars on a plain registry, so a stars filter
        // leaves nothing (and nothing is printed, as podman).
        let out = ctx.ok(&["search", "--compatible", &format!("{host}/a/{term}")]);
        assert!(lines(&out)[0].contains("STARS"), "{out}");
        let out = ctx.ok(&["search", "-f", "stars=1", &format!("{host}/{term}")]);
        assert_eq!(out.stdout, "", "{out}");
        let out = ctx.ok(&["search", &format!("{host}/{term}-nothing-has-this")]);
        assert_eq!(out.stdout, "", "{out}");

        let out = ctx.ok(&["search", "--list-tags", &format!("{host}/{term}")]);
        let mut rows: Vec<Vec<String>> = lines(&out)[1..]
            .iter()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            [
                vec![format!("{host}/{term}"), "1".to_string()],
                vec![format!("{host}/{term}"), "2".to_string()],
            ],
            "{out}"
        );
        let out = ctx.ok(&[
            "search",
            "--list-tags",
            "--limit",
            "1",
            &format!("{host}/{term}:1"),
        ]);
        assert_eq!(lines(&out).len(), 2, "{out}");
        let out = ctx.ok(&[
            "search",
            "--list-tags",
            "--format",
            "json",
            &format!("{host}/{term}"),
        ]);
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(doc[0]["Name"], format!("{host}/{term}"), "{out}");
        assert_eq!(doc[0]["Tags"].as_array().map(Vec::len), Some(2), "{out}");
    });
}

#[test]
fn search_bad_input() {
    let Some(reg) = Registry::open() else { return };
    let auth = Registry::auth();
    for_each_user("search_bad_input", |ctx| {
        let host = &reg.host;
        let one = |args: &[&str]| assert_one_error(&ctx.rless(args), ERR_EXIT);
        one(&["search", "--filter", "bogus=1", &format!("{host}/x")]);
        one(&["search", "--filter", "stars=many", &format!("{host}/x")]);
        // Docker Hub's API serves at most 100 (refused before any request).
        let out = ctx.rless(&["search", "--limit", "101", "docker.io/alpine"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("outside the range of [1, 100]"),
            "{out}"
        );
        // --list-tags needs a repository, and one that exists.
        one(&["search", "--list-tags", &format!("{host}/")]);
        one(&[
            "search",
            "--list-tags",
            &format!("{host}/{}", fresh_term(ctx)),
        ]);
        // Nothing listens on port 1.
        one(&["search", "127.0.0.1:1/x"]);
        if let Some(auth) = &auth {
            let out = ctx.rless(&["search", &format!("{}/x", auth.host)]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("credentials"), "{out}");
        }
    });
}

/// Docker Hub's search trusts what a pull trusts: `--cert-dir` is read (a
/// missing one is an error naming it, before any connection), as are the
/// system's bundle and certs.d. The search API used a client of its own
/// with only the bundled roots, so a site's proxy CA was not trusted.
#[test]
fn search_hub_reads_the_trust_settings() {
    for_each_user("search_hub_reads_the_trust_settings", |ctx| {
        let missing = ctx.work.join("no-such-certs").display().to_string();
        let out = ctx.rless(&["search", "--cert-dir", &missing, "alpine"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains(&missing), "{out}");
    });
}

/// A term without a registry searches podman's `unqualified-search-registries`
/// (registries.conf, here by `CONTAINERS_REGISTRIES_CONF`), every one of
/// them; a registry that fails is skipped when another answers. It used to
/// go to Docker Hub whatever registries.conf said.
#[test]
fn search_uses_the_unqualified_search_registries() {
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new().file("f", b"search\n", 0o644).finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("search_uses_the_unqualified_search_registries", |ctx| {
        let term = fresh_term(ctx);
        reg.push(&term, "1", &img);
        let with_conf = |conf: &str, args: &[&str]| {
            ctx.write_file("registries.conf", conf.as_bytes());
            let mut c = ctx.rless_cmd(args);
            c.env(
                "CONTAINERS_REGISTRIES_CONF",
                ctx.work.join("registries.conf"),
            );
            common::run_cmd(c, None, std::time::Duration::from_secs(120), "search")
        };
        // Nothing listens on port 1: that registry fails, the other answers.
        let conf = format!(
            "unqualified-search-registries = [\"127.0.0.1:1\", \"{}\"]\n",
            reg.host
        );
        let out = with_conf(&conf, &["search", "--format", "{{.Name}}", &term]);
        assert!(out.success(), "{out}");
        assert_eq!(lines(&out), [format!("{}/{term}", reg.host)], "{out}");
        assert!(
            out.stderr.contains("warning") && out.stderr.contains("127.0.0.1:1"),
            "{out}"
        );
        // Every registry failing is an error.
        let out = with_conf(
            "unqualified-search-registries = [\"127.0.0.1:1\"]\n",
            &["search", &term],
        );
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("127.0.0.1:1"), "{out}");
    });
}
