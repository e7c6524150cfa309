//! Building image layers/manifests and pushing them to a real registry.

use super::{sha256_hex, skip};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::OnceLock;

pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MT_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MT_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MT_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// mtime of every entry we generate (deterministic layers).
pub const MTIME: u64 = 1_700_000_000;
/// `created` of generated configs, and the same instant in unix seconds.
pub const CREATED: &str = "2024-01-02T03:04:05Z";
pub const CREATED_UNIX: i64 = 1_704_164_645;

pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

// ------------------------------------------------------------------ busybox

/// The static busybox binary, or None (after a skip) when not installed.
pub fn busybox() -> Option<&'static [u8]> {
    static BB: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let bb = BB.get_or_init(|| {
        ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .find_map(|p| std::fs::read(p).ok())
    });
    if bb.is_none() {
        skip("busybox (busybox-static) is not installed");
    }
    bb.as_deref()
}

/// Writes `bb` as `dir/bin/busybox` (mode 0755) with a symlink to it for
/// each applet, into an existing `dir/bin`.
pub fn install_busybox(dir: &std::path::Path, bb: &[u8], applets: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::write(bin.join("busybox"), bb).unwrap();
    std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for a in applets {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
}

pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "true", "false", "env", "stat", "touch",
];

// ------------------------------------------------------------------ layers

/// Builds an uncompressed layer tar.
pub struct LayerBuilder {
    b: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_size(size);
    h.set_mtime(MTIME);
    h
}

impl LayerBuilder {
    pub fn new() -> Self {
        let mut b = tar::Builder::new(Vec::new());
        b.mode(tar::HeaderMode::Complete);
        LayerBuilder { b }
    }

    pub fn dir(self, path: &str, mode: u32) -> Self {
        self.dir_owned(path, mode, 0, 0)
    }

    pub fn dir_owned(mut self, path: &str, mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = header(tar::EntryType::Directory, mode, uid, gid, 0);
        self.b.append_data(&mut h, path, &[][..]).expect("tar dir");
        self
    }

    pub fn file(self, path: &str, content: &[u8], mode: u32) -> Self {
        self.file_owned(path, content, mode, 0, 0)
    }

    pub fn file_owned(mut self, path: &str, content: &[u8], mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = header(
            tar::EntryType::Regular,
            mode,
            uid,
            gid,
            content.len() as u64,
        );
        self.b.append_data(&mut h, path, content).expect("tar file");
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("tar symlink");
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = header(tar::EntryType::Link, 0o644, 0, 0, 0);
        self.b
            .append_link(&mut h, path, target)
            .expect("tar hardlink");
        self
    }

    /// Delete `dir/name` from lower layers (`dir` may be "" for the root).
    pub fn whiteout(self, dir: &str, name: &str) -> Self {
        let p = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&p, b"", 0o644)
    }

    /// Hide everything lower layers have in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", 0o644)
    }

    /// An entry written byte for byte: no path validation, so names may be
    /// absolute or contain `..`. Long names use GNU long-name records.
    pub fn raw(
        mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> Self {
        let long = |b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, value: &[u8]| {
            let mut v = value.to_vec();
            v.push(0);
            let mut h = header(kind, 0o644, 0, 0, v.len() as u64);
            h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            h.set_cksum();
            b.append(&h, &v[..]).expect("tar long name");
        };
        if name.len() >= 100 {
            long(&mut self.b, tar::EntryType::GNULongName, name);
        }
        if link.len() >= 100 {
            long(&mut self.b, tar::EntryType::GNULongLink, link);
        }
        let mut h = header(kind, mode, 0, 0, data.len() as u64);
        {
            let old = h.as_old_mut();
            let n = name.len().min(99);
            old.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(99);
            old.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_cksum();
        self.b.append(&h, data).expect("tar raw entry");
        self
    }

    /// bin/busybox plus applet symlinks (bin/sh -> busybox, …) and /etc.
    pub fn busybox(self, bb: &[u8]) -> Self {
        let mut s = self
            .dir("bin", 0o755)
            .file("bin/busybox", bb, 0o755)
            .dir("etc", 0o755)
            .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
            .dir("tmp", 0o1777);
        for a in BUSYBOX_APPLETS {
            s = s.symlink(&format!("bin/{a}"), "busybox");
        }
        s
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finish tar")
    }
}

/// The plain busybox layer, built once per test process.
pub fn busybox_layer() -> Option<&'static [u8]> {
    static L: OnceLock<Vec<u8>> = OnceLock::new();
    let bb = busybox()?;
    Some(L.get_or_init(|| LayerBuilder::new().busybox(bb).finish()))
}

// ------------------------------------------------------------------ compression

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    Gzip,
    Zstd,
    None,
}

pub fn compress(tar: &[u8], comp: Comp) -> Vec<u8> {
    match comp {
        Comp::None => tar.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(tar, 3).unwrap(),
    }
}

/// Gzip is the slow part of building test images; cache compressed blobs.
fn compress_cached(tar: &[u8], comp: Comp) -> Vec<u8> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Cache = Mutex<HashMap<(String, u8), Vec<u8>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    if tar.len() < 256 * 1024 {
        return compress(tar, comp);
    }
    let key = (sha256_hex(tar), comp as u8);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    let v = compress(tar, comp);
    cache.lock().unwrap().insert(key, v.clone());
    v
}

// ------------------------------------------------------------------ images

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker schema2 manifest.
    Docker,
    /// OCI image manifest.
    Oci,
}

#[derive(Clone, Debug)]
pub struct BuiltLayer {
    /// What goes into the registry (possibly compressed).
    pub blob: Vec<u8>,
    /// Descriptor fields; tests may tamper with them before pushing.
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    pub comp: Comp,
}

impl BuiltLayer {
    pub fn new(tar: &[u8], comp: Comp, format: Format) -> BuiltLayer {
        let blob = compress_cached(tar, comp);
        let media_type = match (format, comp) {
            (Format::Docker, Comp::Gzip) => MT_DOCKER_LAYER_GZIP,
            (Format::Docker, _) => panic!("docker schema2 images use gzip layers here"),
            (Format::Oci, Comp::Gzip) => MT_OCI_LAYER_GZIP,
            (Format::Oci, Comp::Zstd) => MT_OCI_LAYER_ZSTD,
            (Format::Oci, Comp::None) => MT_OCI_LAYER,
        };
        BuiltLayer {
            digest: digest_of(&blob),
            size: blob.len() as u64,
            blob,
            media_type: media_type.to_string(),
            diff_id: digest_of(tar),
            comp,
        }
    }
}

/// An image ready to push. `config` and `layers` are public so tests can
/// corrupt them.
#[derive(Clone, Debug)]
pub struct Built {
    pub format: Format,
    pub config: Value,
    pub layers: Vec<BuiltLayer>,
}

impl Built {
    /// An image for `arch` from uncompressed layer tars.
    pub fn new(format: Format, arch: &str, layers: &[(&[u8], Comp)]) -> Built {
        let layers: Vec<BuiltLayer> = layers
            .iter()
            .map(|(t, c)| BuiltLayer::new(t, *c, format))
            .collect();
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
        let history: Vec<Value> = layers
            .iter()
            .map(|_| json!({"created": CREATED, "created_by": "rless tests"}))
            .collect();
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": CREATED,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "RLESS_TEST=1"],
                "Cmd": ["/bin/sh", "-c", "echo hello"],
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        Built {
            format,
            config,
            layers,
        }
    }

    /// Same, for the host architecture.
    pub fn host(format: Format, layers: &[(&[u8], Comp)]) -> Built {
        Built::new(format, super::host_arch().unwrap_or("amd64"), layers)
    }

    pub fn config_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.config).unwrap()
    }

    pub fn config_digest(&self) -> String {
        digest_of(&self.config_bytes())
    }

    /// The image id rless must print: hex of the config digest.
    pub fn id(&self) -> String {
        self.config_digest()
            .trim_start_matches("sha256:")
            .to_string()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    pub fn manifest_media_type(&self) -> &'static str {
        match self.format {
            Format::Docker => MT_DOCKER_MANIFEST,
            Format::Oci => MT_OCI_MANIFEST,
        }
    }

    pub fn manifest_bytes(&self) -> Vec<u8> {
        let cfg = self.config_bytes();
        let cfg_mt = match self.format {
            Format::Docker => MT_DOCKER_CONFIG,
            Format::Oci => MT_OCI_CONFIG,
        };
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": self.manifest_media_type(),
            "config": {"mediaType": cfg_mt, "digest": digest_of(&cfg), "size": cfg.len()},
            "layers": layers,
        }))
        .unwrap()
    }

    pub fn manifest_digest(&self) -> String {
        digest_of(&self.manifest_bytes())
    }
}

/// What a push produced.
#[derive(Clone, Debug)]
pub struct Pushed {
    pub host: String,
    pub repo: String,
    pub tag: String,
    /// `host/repo:tag`
    pub reference: String,
    /// Image id (config digest hex) and manifest digest.
    pub id: String,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub manifest_size: usize,
    pub diff_ids: Vec<String>,
    /// Digests of the config and layer blobs as named by the manifest.
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

impl Pushed {
    /// `host/repo@sha256:…`
    pub fn by_digest(&self) -> String {
        format!("{}/{}@{}", self.host, self.repo, self.manifest_digest)
    }
}

// ------------------------------------------------------------------ registry client

pub struct Registry {
    pub host: String,
    pub creds: Option<(String, String)>,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build();
    ureq::Agent::new_with_config(config)
}

impl Registry {
    /// The open registry (`RLESS_TEST_REGISTRY`), or None after a skip.
    pub fn open() -> Option<Registry> {
        let Ok(host) = std::env::var("RLESS_TEST_REGISTRY") else {
            skip("RLESS_TEST_REGISTRY is not set (tests/run.sh starts a registry)");
            return None;
        };
        Some(Registry {
            host,
            creds: None,
            agent: agent(),
        })
    }

    /// An open registry at `host:port`.
    pub fn at(host: &str) -> Registry {
        Registry {
            host: host.to_string(),
            creds: None,
            agent: agent(),
        }
    }

    /// The basic-auth registry (`RLESS_TEST_AUTH_REGISTRY`, `…_USER`, `…_PASS`).
    pub fn auth() -> Option<Registry> {
        let vars = [
            "RLESS_TEST_AUTH_REGISTRY",
            "RLESS_TEST_AUTH_USER",
            "RLESS_TEST_AUTH_PASS",
        ];
        let vals: Vec<String> = vars.iter().filter_map(|v| std::env::var(v).ok()).collect();
        if vals.len() != 3 {
            skip("RLESS_TEST_AUTH_REGISTRY/_USER/_PASS are not set");
            return None;
        }
        Some(Registry {
            host: vals[0].clone(),
            creds: Some((vals[1].clone(), vals[2].clone())),
            agent: agent(),
        })
    }

    /// Directory holding the open registry's filesystem storage, if known.
    pub fn storage_dir() -> Option<std::path::PathBuf> {
        std::env::var("RLESS_TEST_REGISTRY_DIR")
            .ok()
            .map(Into::into)
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("http://{}{}", self.host, path)
        }
    }

    fn authed<B>(&self, rb: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        use base64::Engine;
        match &self.creds {
            Some((u, p)) => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                rb.header("Authorization", format!("Basic {token}"))
            }
            None => rb,
        }
    }

    pub fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .authed(self.agent.head(&url))
            .call()
            .expect("HEAD blob");
        resp.status().as_u16() == 200
    }

    /// Monolithic upload; returns the digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = digest_of(data);
        if self.blob_exists(repo, &digest) {
            return digest;
        }
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self
            .authed(self.agent.post(&url))
            .send_empty()
            .expect("POST upload");
        assert_eq!(resp.status().as_u16(), 202, "start upload to {url}");
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location header")
            .to_string();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = self.url(&format!("{loc}{sep}digest={digest}"));
        let mut resp = self
            .authed(self.agent.put(&put))
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .expect("PUT blob");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "blob upload to {repo} failed: {body}");
        digest
    }

    /// PUT a manifest under a tag or digest; returns its digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let mut resp = self
            .authed(self.agent.put(&url))
            .header("Content-Type", media_type)
            .send(body)
            .expect("PUT manifest");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(
            status, 201,
            "manifest push to {repo}:{reference} failed: {text}"
        );
        digest_of(body)
    }

    /// Push blobs, config and manifest; tag it.
    pub fn push(&self, repo: &str, tag: &str, img: &Built) -> Pushed {
        for l in &img.layers {
            self.push_blob(repo, &l.blob);
        }
        let cfg = img.config_bytes();
        self.push_blob(repo, &cfg);
        let manifest = img.manifest_bytes();
        let mt = img.manifest_media_type();
        let manifest_digest = self.push_manifest(repo, tag, mt, &manifest);
        Pushed {
            host: self.host.clone(),
            repo: repo.to_string(),
            tag: tag.to_string(),
            reference: format!("{}/{}:{}", self.host, repo, tag),
            id: img.id(),
            manifest_digest,
            manifest_media_type: mt.to_string(),
            manifest_size: manifest.len(),
            diff_ids: img.diff_ids(),
            config_digest: digest_of(&cfg),
            layer_digests: img.layers.iter().map(|l| l.digest.clone()).collect(),
        }
    }

    /// Push each image by digest, then an OCI index over them under `tag`.
    /// Returns the index digest.
    pub fn push_index(&self, repo: &str, tag: &str, images: &[(&str, &Built)]) -> String {
        let mut manifests = Vec::new();
        for (arch, img) in images {
            let p = self.push(repo, &img.manifest_digest(), img);
            let mut platform = json!({"architecture": arch, "os": "linux"});
            if *arch == "arm64" {
                platform["variant"] = json!("v8");
            }
            manifests.push(json!({
                "mediaType": p.manifest_media_type,
                "digest": p.manifest_digest,
                "size": p.manifest_size,
                "platform": platform,
            }));
        }
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_INDEX,
            "manifests": manifests,
        }))
        .unwrap();
        self.push_manifest(repo, tag, MT_OCI_INDEX, &index)
    }

    /// DELETE a blob from a repository; returns the HTTP status.
    pub fn delete_blob(&self, repo: &str, digest: &str) -> u16 {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .authed(self.agent.delete(&url))
            .call()
            .expect("DELETE blob");
        resp.status().as_u16()
    }
}
