//! Pulls over HTTPS from registries whose certificate comes from a CA of
//! the test run's own (tests/run.sh: `rless-tls.test:5005`, and `:5006`,
//! which demands a client certificate; both serve the open registry's
//! storage). rless trusts what podman trusts: the system's bundle
//! (`SSL_CERT_FILE` here), the user's and the system's `certs.d`
//! directories, `--cert-dir`; a client certificate is `NAME.cert` with
//! `NAME.key` there. An untrusted registry is one error line that says
//! what to do.

mod common;

use common::checks::assert_one_error;
use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, skip, Ctx, ERR_EXIT};
use std::path::PathBuf;

struct TlsRig {
    /// `rless-tls.test:PORT` of the registry, and of the one that wants a
    /// client certificate.
    tls: String,
    mtls: String,
    /// The CA, the client certificate and its key.
    dir: PathBuf,
}

impl TlsRig {
    fn from_env() -> Option<TlsRig> {
        let vars = [
            "RLESS_TEST_TLS_REGISTRY",
            "RLESS_TEST_MTLS_REGISTRY",
            "RLESS_TEST_TLS_DIR",
        ];
        let vals: Vec<String> = vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
        if vals.len() != vars.len() {
            skip("RLESS_TEST_TLS_REGISTRY/_MTLS_REGISTRY/_DIR are not set (tests/run.sh starts the TLS registries as root)");
            return None;
        }
        Some(TlsRig {
            tls: vals[0].clone(),
            mtls: vals[1].clone(),
            dir: PathBuf::from(&vals[2]),
        })
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A directory under the test's work dir holding `files` of the rig.
    fn cert_dir(&self, ctx: &Ctx, rel: &str, files: &[&str]) -> String {
        for f in files {
            ctx.write_file(&format!("{rel}/{f}"), &self.file(f));
        }
        ctx.work.join(rel).display().to_string()
    }
}

/// `rless ARGS…` (a pull, a build) with extra environment.
fn pull_with(ctx: &Ctx, env: &[(&str, &str)], args: &[&str]) -> common::out::Out {
    let mut c = ctx.rless_cmd(args);
    for (k, v) in env {
        c.env(k, v);
    }
    common::run_cmd(c, None, std::time::Duration::from_secs(120), "pull")
}

#[test]
fn pull_tls_trust() {
    let Some(rig) = TlsRig::from_env() else {
        return;
    };
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new()
        .file("tls", b"over https\n", 0o644)
        .finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("pull_tls_trust", |ctx| {
        let repo = ctx.repo("img");
        reg.push(&repo, "v1", &img);
        let r = format!("{}/{repo}:v1", rig.tls);

        // Not trusted: one line that says what to do.
        let out = ctx.rless(&["pull", "-q", &r]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("not trusted") && out.stderr.contains("certs.d"),
            "{out}"
        );

        // --cert-dir with the CA.
        let dir = rig.cert_dir(ctx, "cadir", &["ca.crt"]);
        assert_eq!(ctx.pull(&["--cert-dir", &dir, &r]), img.id());
        ctx.ok(&["rmi", &r]);

        // The user's certs.d, named after host:port.
        let xdg = ctx.work.join("xdg").display().to_string();
        rig.cert_dir(
            ctx,
            &format!("xdg/containers/certs.d/{}", rig.tls),
            &["ca.crt"],
        );
        let out = pull_with(ctx, &[("XDG_CONFIG_HOME", &xdg)], &["pull", "-q", &r]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id());
        ctx.ok(&["rmi", &r]);

        // The system's bundle (SSL_CERT_FILE, as curl and podman read it).
        let bundle = ctx.work.join("cadir/ca.crt").display().to_string();
        let out = pull_with(ctx, &[("SSL_CERT_FILE", &bundle)], &["pull", "-q", &r]);
        assert!(out.success(), "{out}");
        ctx.ok(&["rmi", &r]);

        // A certs.d file that holds no certificate is an error naming it.
        ctx.write_file("badca/ca.crt", b"not a certificate\n");
        let bad = ctx.work.join("badca").display().to_string();
        let out = ctx.rless(&["pull", "-q", "--cert-dir", &bad, &r]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("ca.crt"), "{out}");
    });
}

#[test]
fn pull_tls_client_certificate() {
    let Some(rig) = TlsRig::from_env() else {
        return;
    };
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new()
        .file("mtls", b"mutual\n", 0o644)
        .finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("pull_tls_client_certificate", |ctx| {
        let repo = ctx.repo("img");
        reg.push(&repo, "v1", &img);
        let r = format!("{}/{repo}:v1", rig.mtls);
        // The CA alone: the registry refuses the handshake.
        let ca_only = rig.cert_dir(ctx, "ca-only", &["ca.crt"]);
        let out = ctx.rless(&["pull", "-q", "--cert-dir", &ca_only, &r]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("client certificate"), "{out}");
        // With the client certificate and its key.
        let full = rig.cert_dir(ctx, "full", &["ca.crt", "client.cert", "client.key"]);
        assert_eq!(ctx.pull(&["--cert-dir", &full, &r]), img.id());
        // A certificate without its key is refused before connecting.
        let lone = rig.cert_dir(ctx, "lone", &["ca.crt", "client.cert"]);
        let out = ctx.rless(&["pull", "-q", "--cert-dir", &lone, &r]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("without its key"), "{out}");
    });
}

/// A build's `ADD https://…` trusts the system's bundle as a pull does
/// (its download client had only the bundled Mozilla roots, so a site CA
/// or a TLS-inspecting proxy's failed every ADD of an https URL).
#[test]
fn build_add_https_trusts_the_system_bundle() {
    let Some(rig) = TlsRig::from_env() else {
        return;
    };
    for_each_user("build_add_https_trusts_the_system_bundle", |ctx| {
        // The open registry answers its catalog without credentials.
        let file = format!(
            "FROM scratch\nADD https://{}/v2/_catalog /catalog\n",
            rig.tls
        );
        ctx.write_file("ctx/Containerfile", file.as_bytes());
        let dir = ctx.work.join("ctx").display().to_string();
        let out = ctx.rless(&["build", &dir]);
        assert!(!out.success(), "{out}");
        assert!(out.stderr.contains("UnknownIssuer"), "{out}");
        rig.cert_dir(ctx, "bundle", &["ca.crt"]);
        let bundle = ctx.work.join("bundle/ca.crt").display().to_string();
        let out = pull_with(ctx, &[("SSL_CERT_FILE", &bundle)], &["build", &dir]);
        assert!(out.success(), "{out}");
    });
}

/// A site proxy and `NO_PROXY` as podman (Go) reads them: the registry's
/// host (here with its port, after a space) in `NO_PROXY` is reached
/// directly; another port of it is not covered and goes to the proxy
/// (nothing listens there: one error line, nothing stored). ureq's own
/// reading matched neither the spaced entry nor the port.
#[test]
fn pull_tls_no_proxy_as_podman() {
    let Some(rig) = TlsRig::from_env() else {
        return;
    };
    let Some(reg) = Registry::open() else { return };
    let layer = LayerBuilder::new()
        .file("proxy", b"direct\n", 0o644)
        .finish();
    let img = Built::host(Format::Oci, &[(&layer, Comp::Gzip)]);
    for_each_user("pull_tls_no_proxy_as_podman", |ctx| {
        let repo = ctx.repo("np");
        reg.push(&repo, "v1", &img);
        let r = format!("{}/{repo}:v1", rig.tls);
        let dir = rig.cert_dir(ctx, "cadir", &["ca.crt"]);
        let (host, _) = rig.tls.split_once(':').unwrap();
        let proxy = "http://127.0.0.1:1";
        let listed = format!("other.invalid, {}", rig.tls.to_uppercase());
        let out = pull_with(
            ctx,
            &[("HTTPS_PROXY", proxy), ("NO_PROXY", &listed)],
            &["pull", "-q", "--cert-dir", &dir, &r],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), img.id());
        ctx.ok(&["rmi", &r]);
        let before = ctx.snapshot();
        let other_port = format!("{host}:1");
        let out = pull_with(
            ctx,
            &[("HTTPS_PROXY", proxy), ("no_proxy", &other_port)],
            &["pull", "-q", "--cert-dir", &dir, &r],
        );
        assert_one_error(&out, ERR_EXIT);
        ctx.snapshot()
            .assert_same(&before, "a pull through a dead proxy");
    });
}
