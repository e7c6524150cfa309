//! `rless pull` against a registry that uses Bearer token auth.
//!
//! tests/run.sh starts docker-registry with `auth: token` on
//! `RLESS_TEST_TOKEN_REGISTRY`, the token server tests/token_server.py it
//! points to, and an open registry on `RLESS_TEST_TOKEN_PUSH_REGISTRY` that
//! shares the token registry's storage: images are pushed there (the test
//! pusher only speaks basic auth) and pulled through the token registry.
//!
//! The token server grants `pull` to `RLESS_TEST_TOKEN_USER` /
//! `RLESS_TEST_TOKEN_PASS` on every repository whose name does not contain
//! `forbidden`, gives anonymous clients a token that grants nothing, and
//! answers 401 to wrong credentials. The first token it gives a user for
//! a repository whose name contains `stale` has already expired.

mod common;

use common::oci::{
    busybox_layer, Built, Comp, Format, Registry, MT_DOCKER_MANIFEST, MT_OCI_MANIFEST,
};
use common::{for_each_user, skip, Ctx, Out};
use std::fs;

struct TokenRig {
    /// `host:port` of the token-auth registry (what rless pulls from).
    host: String,
    /// Open registry on the same storage (what the tests push to).
    push: Registry,
    user: String,
    pass: String,
}

impl TokenRig {
    fn from_env() -> Option<TokenRig> {
        let vars = [
            "RLESS_TEST_TOKEN_REGISTRY",
            "RLESS_TEST_TOKEN_PUSH_REGISTRY",
            "RLESS_TEST_TOKEN_USER",
            "RLESS_TEST_TOKEN_PASS",
        ];
        let vals: Vec<String> = vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
        if vals.len() != vars.len() {
            skip("RLESS_TEST_TOKEN_REGISTRY/_PUSH_REGISTRY/_USER/_PASS are not set (tests/run.sh starts a token registry)");
            return None;
        }
        Some(TokenRig {
            host: vals[0].clone(),
            push: Registry::at(&vals[1]),
            user: vals[2].clone(),
            pass: vals[3].clone(),
        })
    }

    /// Push `img` as `repo:tag`; returns the reference on the token registry.
    fn push(&self, repo: &str, tag: &str, img: &Built) -> String {
        self.push.push(repo, tag, img);
        format!("{}/{}:{}", self.host, repo, tag)
    }

    fn creds(&self) -> String {
        format!("{}:{}", self.user, self.pass)
    }
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build();
    ureq::Agent::new_with_config(config)
}

/// `key="value"` from a WWW-Authenticate header.
fn challenge_param(header: &str, key: &str) -> Option<String> {
    let start = header.find(&format!("{key}=\""))? + key.len() + 2;
    let len = header[start..].find('"')?;
    Some(header[start..start + len].to_string())
}

/// GET the token endpoint; (status, token if any).
fn fetch_token(
    agent: &ureq::Agent,
    realm: &str,
    service: &str,
    scope: &str,
    creds: Option<(&str, &str)>,
) -> (u16, Option<String>) {
    use base64::Engine;
    let mut req = agent
        .get(realm)
        .query("service", service)
        .query("scope", scope);
    if let Some((u, p)) = creds {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req = req.header("Authorization", format!("Basic {b}"));
    }
    let mut resp = req.call().expect("GET token");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    let token = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_string));
    (status, token)
}

/// The realm and service of the registry's Bearer challenge.
fn challenge(agent: &ureq::Agent, host: &str) -> (String, String) {
    let resp = agent
        .get(format!("http://{host}/v2/"))
        .call()
        .expect("GET /v2/");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "token registry /v2/ must be 401"
    );
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        challenge.starts_with("Bearer "),
        "expected a Bearer challenge, got {challenge:?}"
    );
    (
        challenge_param(&challenge, "realm").expect("realm in the challenge"),
        challenge_param(&challenge, "service").expect("service in the challenge"),
    )
}

/// The status of `GET /v2/REPO/manifests/latest` with `token`.
fn manifest_status(agent: &ureq::Agent, host: &str, repo: &str, token: &str) -> u16 {
    agent
        .get(format!("http://{host}/v2/{repo}/manifests/latest"))
        .header("Accept", format!("{MT_DOCKER_MANIFEST}, {MT_OCI_MANIFEST}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("GET manifest")
        .status()
        .as_u16()
}

/// The last stderr line (the `rless: …` error).
fn error_line(out: &Out) -> String {
    out.stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}

fn assert_mentions_credentials(out: &Out) {
    eprintln!("  error: {}", error_line(out));
    let line = error_line(out).to_lowercase();
    assert!(
        line.contains("credentials") || line.contains("login"),
        "the error should mention credentials or login: {out}"
    );
}

/// The rig itself, without rless: the registry demands Bearer tokens, the
/// token server hands out ones the registry accepts, anonymous tokens do not
/// grant pull, and pushes to the push registry show up on the token registry.
/// If this fails the other tests here say nothing about rless.
#[test]
fn token_rig_speaks_bearer() {
    let Some(rig) = TokenRig::from_env() else {
        return;
    };
    let Some(bb) = busybox_layer() else { return };
    let agent = agent();
    let (realm, service) = challenge(&agent, &rig.host);

    let repo = "rlt/token-rig/img";
    let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
    rig.push.push(repo, "latest", &img);
    let scope = format!("repository:{repo}:pull");
    let get_manifest = |token: &str| manifest_status(&agent, &rig.host, repo, token);

    let (status, anon) = fetch_token(&agent, &realm, &service, &scope, None);
    assert_eq!(status, 200, "anonymous token request");
    assert_eq!(
        get_manifest(&anon.expect("anonymous token")),
        401,
        "an anonymous token must not grant pull"
    );

    let (status, good) = fetch_token(
        &agent,
        &realm,
        &service,
        &scope,
        Some((&rig.user, &rig.pass)),
    );
    assert_eq!(status, 200, "token request with the right password");
    assert_eq!(
        get_manifest(&good.expect("token")),
        200,
        "the registry must accept the token server's tokens (see the token registry log)"
    );

    let (status, _) = fetch_token(&agent, &realm, &service, &scope, Some((&rig.user, "wrong")));
    assert_eq!(status, 401, "token request with a wrong password");

    let forbidden = format!("repository:{repo}-forbidden:pull");
    let (status, tok) = fetch_token(
        &agent,
        &realm,
        &service,
        &forbidden,
        Some((&rig.user, &rig.pass)),
    );
    assert_eq!(status, 200, "token request for a forbidden repository");
    assert!(tok.is_some());
}

#[test]
fn pull_token_creds_login_logout() {
    let Some(rig) = TokenRig::from_env() else {
        return;
    };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_token", |ctx| {
        let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
        let r = rig.push(&ctx.repo("img"), "latest", &img);
        let r = r.as_str();
        let host = rig.host.as_str();
        let auth_file = ctx.user.runtime_dir().join("containers/auth.json");

        // start logged out (a previous run may have left credentials)
        let _ = ctx.rless(&["logout", host]);
        ctx.ok(&["images"]); // initialise the store so the snapshot is meaningful

        // anonymous: the token server's token grants nothing
        let out = ctx.fail_unchanged(&["pull", r]);
        assert_mentions_credentials(&out);

        // wrong password / unknown user: the token server answers 401
        let out = ctx.fail_unchanged(&[
            "pull",
            "--creds",
            &format!("{}:wrong-password", rig.user),
            r,
        ]);
        assert_mentions_credentials(&out);
        let out = ctx.fail_unchanged(&["pull", "--creds", &format!("nobody:{}", rig.pass), r]);
        assert_mentions_credentials(&out);

        // right credentials
        assert_eq!(ctx.pull(&["--creds", &rig.creds(), r]), img.id());
        ctx.ok(&["run", "--rm", r, "true"]);
        let out = ctx.ok(&["run", "--rm", r, "echo", "pulled-with-a-token"]);
        assert_eq!(out.stdout, "pulled-with-a-token\n", "run output: {out}");
        ctx.ok(&["rmi", "-f", r]);

        // login with a wrong password is refused and stores nothing
        ctx.fail(&["login", "-u", &rig.user, "-p", "wrong-password", host]);
        if let Ok(text) = fs::read_to_string(&auth_file) {
            assert!(
                !text.contains(host),
                "failed login stored credentials: {text}"
            );
        }

        let out = ctx.rless_stdin(
            &["login", "-u", &rig.user, "--password-stdin", host],
            format!("{}\n", rig.pass).as_bytes(),
        );
        assert!(out.success(), "login --password-stdin: {out}");
        let text = fs::read_to_string(&auth_file).expect("auth.json after login");
        assert!(text.contains(host), "auth.json lacks {host}: {text}");
        assert!(
            !text.contains(&rig.pass),
            "auth.json must not hold the password in clear"
        );
        assert_eq!(ctx.pull(&[r]), img.id(), "pull after login");
        ctx.ok(&["run", "--rm", r, "true"]);
        ctx.ok(&["rmi", "-f", r]);

        ctx.ok(&["logout", host]);
        if let Ok(text) = fs::read_to_string(&auth_file) {
            assert!(!text.contains(host), "logout left credentials: {text}");
        }
        let out = ctx.fail_unchanged(&["pull", r]);
        assert_mentions_credentials(&out);
    });
}

/// Valid credentials, but the token server grants no pull on the repository:
/// the registry keeps answering 401 insufficient_scope.
#[test]
fn pull_token_denied_repository() {
    let Some(rig) = TokenRig::from_env() else {
        return;
    };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("pull_token_denied", |ctx: &Ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip)]);
        let r = rig.push(&ctx.repo("forbidden"), "latest", &img);
        ctx.ok(&["images"]);
        let out = ctx.fail_unchanged(&["pull", "--creds", &rig.creds(), &r]);
        eprintln!("  error: {}", error_line(&out));
        assert!(ctx.image_ids().is_empty());
    });
}

/// A token the registry refuses is dropped and fetched again: the token
/// server's first token for a `stale` repository has already expired (as
/// a pull that outlives its token meets: Docker Hub's live 300 s), the
/// registry answers 401, and the pull goes on with a fresh token.
#[test]
fn pull_token_refetches_a_refused_token() {
    let Some(rig) = TokenRig::from_env() else {
        return;
    };
    let Some(bb) = busybox_layer() else { return };
    // A name the token server has not seen, so its first token is the
    // expired one even when the rig outlives a test run.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let agent = agent();
    let (realm, service) = challenge(&agent, &rig.host);
    let repo = format!("rlt/token-rig/stale-{nonce}");
    let img = Built::host(Format::Docker, &[(bb, Comp::Gzip)]);
    rig.push.push(&repo, "latest", &img);
    let scope = format!("repository:{repo}:pull");
    let creds = Some((rig.user.as_str(), rig.pass.as_str()));
    // The rig: refused first, accepted next; else this test shows nothing.
    let (_, first) = fetch_token(&agent, &realm, &service, &scope, creds);
    let (_, second) = fetch_token(&agent, &realm, &service, &scope, creds);
    assert_eq!(
        manifest_status(&agent, &rig.host, &repo, &first.expect("token")),
        401,
        "the first token for a stale repository must be refused"
    );
    assert_eq!(
        manifest_status(&agent, &rig.host, &repo, &second.expect("token")),
        200,
        "the second token for a stale repository must be accepted"
    );
    for_each_user("pull_token_stale", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip)]);
        let r = rig.push(&ctx.repo(&format!("stale-{nonce}")), "v1", &img);
        assert_eq!(ctx.pull(&["--creds", &rig.creds(), &r]), img.id());
    });
}

/// Two repositories pulled with one set of credentials: each gets its own
/// pull-scoped token, and a multi-layer image fetches every blob with it.
#[test]
fn pull_token_layers_and_digest() {
    let Some(rig) = TokenRig::from_env() else {
        return;
    };
    let Some(bb) = busybox_layer() else { return };
    let extra = common::oci::LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/token", b"bearer\n", 0o644)
        .finish();
    for_each_user("pull_token_layers", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&extra, Comp::Zstd)]);
        let r = rig.push(&ctx.repo("layers"), "v1", &img);
        assert_eq!(ctx.pull(&["--creds", &rig.creds(), &r]), img.id());
        assert_eq!(
            fs::read(ctx.layer_diff(&img.layers[1].diff_id).join("data/token")).unwrap(),
            b"bearer\n"
        );
        let by_digest = format!(
            "{}/{}@{}",
            rig.host,
            ctx.repo("layers"),
            img.manifest_digest()
        );
        ctx.ok(&["rmi", "-f", &r]);
        assert_eq!(ctx.pull(&["--creds", &rig.creds(), &by_digest]), img.id());
    });
}
