//! The Kubernetes YAML of `kube play|down` and `generate kube` (podman's).
//!
//! Theory of operation: a file is read as a list of YAML documents; each
//! `kind: Pod` (or `kind: Deployment`, whose pod template makes one pod)
//! becomes a [`PodPlan`] (the file's ConfigMaps and Secrets, read first,
//! and the store's secrets give env values and the files of configMap and
//! secret volumes, see `kube_data`): the `rless pod create` and `rless create`
//! command lines that make it, checked before anything is made (a missing
//! image, an env `valueFrom`, a volume of an unknown type are refused here,
//! so a bad file makes nothing). `kube.rs` runs those lines. The other
//! way, [`to_yaml`] writes a `serde_json::Value` as block-style YAML, the
//! form `generate kube` prints and this parser reads back.

use super::kube_data::{self, DataRef, Kind, Lookup, Sources, VolFile};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid YAML: {msg}")]
    Yaml { path: String, msg: String },
    #[error("{path}: {msg}")]
    Bad { path: String, msg: String },
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    name: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Doc {
    kind: Option<String>,
    metadata: Meta,
    spec: Value,
    /// A ConfigMap's.
    data: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PodSpec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    volumes: Vec<Volume>,
    restart_policy: Option<String>,
    hostname: Option<String>,
    host_network: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Container {
    name: Option<String>,
    image: Option<String>,
    command: Vec<String>,
    args: Vec<String>,
    env: Vec<EnvVar>,
    env_from: Vec<Value>,
    working_dir: Option<String>,
    ports: Vec<Port>,
    security_context: Option<SecurityContext>,
    resources: Option<Resources>,
    volume_mounts: Vec<VolumeMount>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EnvVar {
    name: String,
    value: Option<Value>,
    value_from: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Port {
    container_port: u16,
    host_port: Option<u16>,
    #[serde(rename = "hostIP")]
    host_ip: Option<String>,
    protocol: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SecurityContext {
    run_as_user: Option<u32>,
    run_as_group: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resources {
    limits: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct VolumeMount {
    name: String,
    mount_path: String,
    read_only: bool,
    sub_path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Volume {
    name: String,
    host_path: Option<HostPath>,
    empty_dir: Option<EmptyDir>,
    persistent_volume_claim: Option<Claim>,
    config_map: Option<DataRef>,
    secret: Option<DataRef>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct EmptyDir {
    medium: Option<String>,
    size_limit: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Claim {
    claim_name: String,
    read_only: bool,
}

/// What a pod volume is mounted from.
enum Source {
    /// A host path or a named volume: `-v SOURCE:PATH`.
    Path { source: String, read_only: bool },
    /// `emptyDir` of `medium: Memory`: `--tmpfs PATH` (with its size).
    Memory { size: Option<u64> },
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HostPath {
    path: String,
    r#type: Option<String>,
}

/// What a hostPath volume's `type` asks of its path before the pod is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCheck {
    Directory,
    DirectoryOrCreate,
    File,
    FileOrCreate,
}

/// One pod of the file, as command lines.
#[derive(Debug, Default)]
pub struct PodPlan {
    pub name: String,
    /// `pod create`'s arguments after `pod create`.
    pub pod_args: Vec<String>,
    /// Each container's name and `create`'s arguments after `create`.
    pub containers: Vec<(String, Vec<String>)>,
    /// The `initContainers`, as `containers`: each is run to its end
    /// (`run --rm`), in order, before the pod starts.
    pub init: Vec<(String, Vec<String>)>,
    /// hostPath paths and what their `type` asks.
    pub host_paths: Vec<(String, HostCheck)>,
    /// The named volumes the pod's emptyDir volumes are (`POD-VOLUME`):
    /// made by `kube play`, removed by `kube down`.
    pub volumes: Vec<String>,
    /// The named volumes its persistentVolumeClaims name: made by `kube
    /// play` when missing, kept by `kube down` (podman's).
    pub claims: Vec<String>,
    /// The files of its configMap and secret volumes: the named volume
    /// (one of `volumes`) and its files.
    pub files: Vec<(String, Vec<VolFile>)>,
    /// Each container's (and init container's) variables from Secrets, by
    /// its full name: given to `create` out of its command line.
    pub secret_env: BTreeMap<String, Vec<(String, String)>>,
}

/// A whole file.
#[derive(Debug, Default)]
pub struct KubeFile {
    pub pods: Vec<PodPlan>,
    /// What it ignores.
    pub warnings: Vec<String>,
    /// Its Secrets: each name and the document, as YAML (stored as a
    /// secret by `kube play`, removed by `kube down`, as podman's).
    pub secrets: Vec<(String, String)>,
    /// The volumes its PersistentVolumeClaims and persistentVolumeClaim
    /// volumes name (`kube down --force` removes them).
    pub claims: Vec<String>,
    /// Its PersistentVolumeClaim documents: the named volumes `kube play`
    /// makes (one already there is used as it is, podman 4.4's).
    pub claim_docs: Vec<kube_data::ClaimDoc>,
}

/// The pods of a file (`-`: stdin), and the warnings for what it ignores;
/// `lookup` finds the store's secrets.
/// (`lenient`: a reference to a ConfigMap or Secret that is not there is
/// passed over, for `kube down`).
pub fn read_file(path: &str, lookup: Lookup, lenient: bool) -> Result<KubeFile, KubeError> {
    let read = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    let text = read.map_err(|source| KubeError::Read {
        path: path.to_string(),
        source,
    })?;
    parse_with(path, &text, lookup, lenient)
}

/// [`read_file`] of the text, with no stored secret.
#[cfg(test)]
pub fn parse(path: &str, text: &str) -> Result<(Vec<PodPlan>, Vec<String>), KubeError> {
    parse_with(path, text, &|_| None, false).map(|f| (f.pods, f.warnings))
}

/// [`read_file`] of the text.
pub fn parse_with(
    path: &str,
    text: &str,
    lookup: Lookup,
    lenient: bool,
) -> Result<KubeFile, KubeError> {
    let bad = |msg: String| KubeError::Bad {
        path: path.to_string(),
        msg,
    };
    // YAML 1.2's booleans only: `y`, `n`, `on`, `off` are strings (an
    // env variable named N, a label value y).
    let mut opts = serde_saphyr::Options::default();
    opts.strict_booleans = true;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, opts).map_err(|e| KubeError::Yaml {
            path: path.to_string(),
            msg: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
        })?;
    let mut read = Vec::new();
    for (i, v) in docs.into_iter().enumerate() {
        if v.is_null() {
            continue;
        }
        let doc: Doc = serde_json::from_value(v.clone())
            .map_err(|e| bad(format!("document {}: {e}", i + 1)))?;
        read.push((i, doc, v));
    }
    // The ConfigMaps and Secrets first: a pod may come before the ones it
    // reads.
    let mut src = Sources {
        config_maps: BTreeMap::new(),
        secrets: BTreeMap::new(),
        lookup,
        lenient,
    };
    let mut file = KubeFile::default();
    for (_, doc, raw) in &read {
        let kind = doc.kind.as_deref();
        if !matches!(kind, Some("ConfigMap" | "Secret")) {
            continue;
        }
        let kind = kind.unwrap_or_default();
        let name = doc
            .metadata
            .name
            .clone()
            .ok_or_else(|| bad(format!("a {kind} without metadata.name")))?;
        if kind == "ConfigMap" {
            let data = (doc.data.iter())
                .map(|(k, v)| (k.clone(), kube_data::text(v).into_bytes()))
                .collect();
            src.config_maps.insert(name, data);
        } else {
            if !rless::container::secret::valid_name(&name) {
                return Err(bad(format!("invalid Secret name {name:?}")));
            }
            let data =
                kube_data::secret_data(raw).map_err(|e| bad(format!("Secret {name}: {e}")))?;
            src.secrets.insert(name.clone(), data);
            file.secrets.push((name, to_yaml(raw)));
        }
    }
    let (mut pods, mut warnings) = (Vec::new(), Vec::new());
    for (i, doc, _) in read {
        match doc.kind.as_deref() {
            Some("Pod") => {
                let name = doc
                    .metadata
                    .name
                    .clone()
                    .ok_or_else(|| bad("a Pod without metadata.name".into()))?;
                pods.push(pod_plan(&name, &doc.metadata, doc.spec, &src).map_err(bad)?);
            }
            Some("Deployment") => {
                let name = doc
                    .metadata
                    .name
                    .clone()
                    .ok_or_else(|| bad("a Deployment without metadata.name".into()))?;
                if doc
                    .spec
                    .get("replicas")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    > 1
                {
                    warnings.push(format!(
                        "Deployment {name}: only one replica is made (replicas ignored)"
                    ));
                }
                let tmpl = doc.spec.get("template").cloned().unwrap_or(Value::Null);
                let meta: Meta =
                    serde_json::from_value(tmpl.get("metadata").cloned().unwrap_or(Value::Null))
                        .unwrap_or_default();
                let spec = tmpl.get("spec").cloned().unwrap_or(Value::Null);
                pods.push(pod_plan(&format!("{name}-pod"), &meta, spec, &src).map_err(bad)?);
            }
            Some("ConfigMap" | "Secret") => {}
            Some("PersistentVolumeClaim") => {
                let m = &doc.metadata;
                let c = kube_data::claim_doc(m.name.as_deref(), &m.labels, &m.annotations)
                    .map_err(bad)?;
                if !valid_name(&c.name) {
                    return Err(bad(format!(
                        "invalid PersistentVolumeClaim name {:?}",
                        c.name
                    )));
                }
                if !file.claims.contains(&c.name) {
                    file.claims.push(c.name.clone());
                }
                file.claim_docs.retain(|d| d.name != c.name);
                file.claim_docs.push(c);
            }
            Some(k @ "Service") => {
                warnings.push(format!("kind {k} is not supported: ignored"));
            }
            Some(k) => return Err(bad(format!("kind {k} is not supported (Pod, Deployment)"))),
            None => return Err(bad(format!("document {} has no kind", i + 1))),
        }
    }
    if pods.is_empty() && file.claim_docs.is_empty() {
        return Err(bad(
            "no Pod, Deployment or PersistentVolumeClaim in the file".into(),
        ));
    }
    for p in &pods {
        for c in &p.claims {
            if !file.claims.contains(c) {
                file.claims.push(c.clone());
            }
        }
    }
    file.pods = pods;
    file.warnings = warnings;
    Ok(file)
}

/// A pod or container name rless takes (and no option's look).
fn valid_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn pod_plan(name: &str, meta: &Meta, spec: Value, src: &Sources) -> Result<PodPlan, String> {
    if !valid_name(name) {
        return Err(format!("invalid pod name {name:?}"));
    }
    let spec: PodSpec = serde_json::from_value(spec).map_err(|e| format!("pod {name}: {e}"))?;
    if spec.containers.is_empty() {
        return Err(format!("pod {name} has no containers"));
    }
    let mut plan = PodPlan {
        name: name.to_string(),
        ..Default::default()
    };
    plan.pod_args = vec!["--name".into(), name.into()];
    if spec.host_network {
        plan.pod_args.extend(["--network".into(), "host".into()]);
    }
    if let Some(h) = &spec.hostname {
        plan.pod_args.extend(["--hostname".into(), h.clone()]);
    }
    for (k, v) in &meta.labels {
        plan.pod_args.push(format!("--label={k}={v}"));
    }
    // Kubernetes' default, and podman's: Always.
    let restart = match spec.restart_policy.as_deref() {
        None | Some("Always") => Some("always"),
        Some("OnFailure") => Some("on-failure"),
        Some("Never") => Some("no"),
        Some(p) => return Err(format!("pod {name}: unknown restartPolicy {p}")),
    };
    // What each volume is mounted from.
    let mut sources = BTreeMap::new();
    for v in &spec.volumes {
        let kinds = [
            v.host_path.is_some(),
            v.empty_dir.is_some(),
            v.persistent_volume_claim.is_some(),
            v.config_map.is_some(),
            v.secret.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!(
                "volume {}: only hostPath, emptyDir, persistentVolumeClaim, configMap and secret volumes are supported",
                v.name
            ));
        }
        let data_ref = (v.config_map.as_ref().map(|r| (Kind::ConfigMap, r)))
            .or_else(|| v.secret.as_ref().map(|r| (Kind::Secret, r)));
        let source = if let Some((kind, r)) = data_ref {
            let files = src
                .files(kind, r)
                .map_err(|e| format!("volume {}: {e}", v.name))?;
            let vol = format!("{name}-{}", v.name);
            plan.volumes.push(vol.clone());
            plan.files.push((vol.clone(), files));
            Source::Path {
                source: vol,
                read_only: true,
            }
        } else if let Some(h) = &v.host_path {
            if !h.path.starts_with('/') {
                return Err(format!(
                    "volume {}: hostPath {:?} is not absolute",
                    v.name, h.path
                ));
            }
            let check = match h.r#type.as_deref() {
                None | Some("") => None,
                Some("Directory") => Some(HostCheck::Directory),
                Some("DirectoryOrCreate") => Some(HostCheck::DirectoryOrCreate),
                Some("File") => Some(HostCheck::File),
                Some("FileOrCreate") => Some(HostCheck::FileOrCreate),
                Some(t) => {
                    return Err(format!(
                        "volume {}: hostPath type {t} is not supported",
                        v.name
                    ))
                }
            };
            if let Some(c) = check {
                plan.host_paths.push((h.path.clone(), c));
            }
            Source::Path {
                source: h.path.clone(),
                read_only: false,
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            if !valid_name(&c.claim_name) {
                return Err(format!(
                    "volume {}: invalid claimName {:?}",
                    v.name, c.claim_name
                ));
            }
            if !plan.claims.contains(&c.claim_name) {
                plan.claims.push(c.claim_name.clone());
            }
            Source::Path {
                source: c.claim_name.clone(),
                read_only: c.read_only,
            }
        } else {
            let e = v.empty_dir.as_ref().expect("one kind");
            match e.medium.as_deref() {
                None | Some("") => {
                    let vol = format!("{name}-{}", v.name);
                    plan.volumes.push(vol.clone());
                    Source::Path {
                        source: vol,
                        read_only: false,
                    }
                }
                Some("Memory") => {
                    let size = match &e.size_limit {
                        None | Some(Value::Null) => None,
                        Some(q) => Some(
                            memory_bytes(q)
                                .ok_or_else(|| format!("volume {}: bad sizeLimit {q}", v.name))?,
                        ),
                    };
                    Source::Memory { size }
                }
                Some(m) => {
                    return Err(format!(
                        "volume {}: emptyDir medium {m} is not supported (Memory, or none)",
                        v.name
                    ))
                }
            }
        };
        sources.insert(v.name.clone(), source);
    }
    // A tmpfs is each container's own: a Memory emptyDir two containers
    // mount would not be shared, as Kubernetes shares it.
    for (vname, src) in &sources {
        let users = (spec.init_containers.iter().chain(&spec.containers))
            .filter(|c| c.volume_mounts.iter().any(|m| &m.name == vname))
            .count();
        if matches!(src, Source::Memory { .. }) && users > 1 {
            return Err(format!(
                "volume {vname}: an emptyDir of medium Memory is mounted by one container only here (rless cannot share a tmpfs between containers)"
            ));
        }
    }
    let all = (spec.init_containers.iter().map(|c| (true, c)))
        .chain(spec.containers.iter().map(|c| (false, c)));
    for (i, (init, c)) in all.enumerate() {
        let cname = c.name.clone().unwrap_or_else(|| format!("container{i}"));
        if !valid_name(&cname) {
            return Err(format!("pod {name}: invalid container name {cname:?}"));
        }
        let full = format!("{name}-{cname}");
        let image = c
            .image
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("container {cname} of pod {name} has no image"))?;
        let mut a: Vec<String> = vec!["--pod".into(), name.into(), "--name".into(), full.clone()];
        for p in &c.ports {
            let Some(hp) = p.host_port.filter(|_| !init) else {
                continue;
            };
            let proto = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" | "tcp" => "",
                "UDP" | "udp" => "/udp",
                o => return Err(format!("container {cname}: protocol {o} is not supported")),
            };
            let ip = match p.host_ip.as_deref() {
                Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                Some(ip) if !ip.is_empty() => format!("{ip}:"),
                _ => String::new(),
            };
            plan.pod_args
                .extend(["-p".into(), format!("{ip}{hp}:{}{proto}", p.container_port)]);
        }
        // envFrom first, in order, then env: a later variable wins. Each
        // name is given once, from a Secret out of the command line.
        let mut env: Vec<(String, String, bool)> = Vec::new();
        // A value that is not UTF-8 (a Secret's binary `data`), or holds a
        // NUL byte, no variable can hold unchanged: refused, rather than
        // altered as podman's JSON spec does.
        let mut set = |k: String, v: Vec<u8>, secret: bool| {
            match String::from_utf8(v) {
            Ok(v) if !v.contains('\0') => {
                env.retain(|(n, _, _)| *n != k);
                env.push((k, v, secret));
                Ok(())
            }
            _ => Err(format!(
                "container {cname}: env {k}: the value is not text (binary data or a NUL byte): mount the Secret as a volume instead"
            )),
        }
        };
        for f in &c.env_from {
            let (kind, r) = match (f.get("configMapRef"), f.get("secretRef")) {
                (Some(r), None) => (Kind::ConfigMap, r),
                (None, Some(r)) => (Kind::Secret, r),
                _ => {
                    return Err(format!(
                        "container {cname}: envFrom: give one of configMapRef and secretRef"
                    ))
                }
            };
            let r: DataRef = serde_json::from_value(r.clone())
                .map_err(|e| format!("container {cname}: envFrom: {e}"))?;
            let data = src
                .find(kind, &r)
                .map_err(|e| format!("container {cname}: {e}"))?;
            for (k, v) in data.into_iter().flatten() {
                // One no env file could name is passed over.
                if !k.is_empty() && !k.contains(|c: char| c == '=' || c.is_whitespace()) {
                    set(k, v, kind == Kind::Secret)?;
                }
            }
        }
        for e in &c.env {
            if e.name.is_empty() || e.name.contains(|c: char| c == '=' || c.is_whitespace()) {
                return Err(format!("container {cname}: invalid env name {:?}", e.name));
            }
            let (v, secret) = match (&e.value, &e.value_from) {
                (_, Some(from)) => {
                    let (kind, r) = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
                        (Some(r), None) => (Kind::ConfigMap, r),
                        (None, Some(r)) => (Kind::Secret, r),
                        _ => {
                            return Err(format!(
                                "container {cname}: env {}: valueFrom is supported with configMapKeyRef or secretKeyRef only",
                                e.name
                            ))
                        }
                    };
                    let r: DataRef = serde_json::from_value(r.clone())
                        .map_err(|x| format!("container {cname}: env {}: {x}", e.name))?;
                    match src
                        .value(kind, &r)
                        .map_err(|x| format!("container {cname}: env {}: {x}", e.name))?
                    {
                        Some(v) => (v, kind == Kind::Secret),
                        None => continue,
                    }
                }
                (None | Some(Value::Null), None) => (Vec::new(), false),
                (Some(v), None) => (kube_data::text(v).into_bytes(), false),
            };
            set(e.name.clone(), v, secret)?;
        }
        let mut hidden = Vec::new();
        for (k, v, secret) in env {
            if secret {
                hidden.push((k, v));
            } else {
                a.extend(["-e".into(), format!("{k}={v}")]);
            }
        }
        if !hidden.is_empty() {
            plan.secret_env.insert(full.clone(), hidden);
        }
        if let Some(w) = c.working_dir.as_ref().filter(|w| !w.is_empty()) {
            a.push(format!("--workdir={w}"));
        }
        if let Some(sc) = &c.security_context {
            match (sc.run_as_user, sc.run_as_group) {
                (Some(u), Some(g)) => a.extend(["--user".into(), format!("{u}:{g}")]),
                (Some(u), None) => a.extend(["--user".into(), u.to_string()]),
                (None, Some(g)) => a.extend(["--user".into(), format!("0:{g}")]),
                (None, None) => {}
            }
        }
        if let Some(r) = &c.resources {
            if let Some(m) = r.limits.get("memory") {
                let b = memory_bytes(m)
                    .ok_or_else(|| format!("container {cname}: bad memory limit {m}"))?;
                a.extend(["--memory".into(), b.to_string()]);
            }
            if let Some(m) = r.limits.get("cpu") {
                let cpus =
                    cpus(m).ok_or_else(|| format!("container {cname}: bad cpu limit {m}"))?;
                a.extend(["--cpus".into(), cpus]);
            }
        }
        for m in &c.volume_mounts {
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(format!(
                    "container {cname}: volumeMounts subPath is not supported"
                ));
            }
            let src = sources.get(&m.name).ok_or_else(|| {
                format!("container {cname}: volumeMount {} names no volume", m.name)
            })?;
            if !m.mount_path.starts_with('/') {
                return Err(format!(
                    "container {cname}: mountPath {:?} is not absolute",
                    m.mount_path
                ));
            }
            match src {
                Source::Path { source, read_only } => {
                    let ro = if m.read_only || *read_only { ":ro" } else { "" };
                    a.extend(["-v".into(), format!("{source}:{}{ro}", m.mount_path)]);
                }
                Source::Memory { size } => {
                    let mut opts = vec!["exec".to_string()];
                    if let Some(b) = size {
                        opts.push(format!("size={b}"));
                    }
                    if m.read_only {
                        opts.push("ro".into());
                    }
                    a.push(format!("--tmpfs={}:{}", m.mount_path, opts.join(",")));
                }
            }
        }
        if let Some(r) = restart.filter(|_| !init) {
            a.extend(["--restart".into(), r.into()]);
        }
        for (k, v) in &meta.annotations {
            a.push(format!("--annotation={k}={v}"));
        }
        let mut words = c.command.iter();
        if let Some(ep) = words.next() {
            a.push(format!("--entrypoint={ep}"));
        }
        a.push(image);
        a.extend(words.cloned());
        a.extend(c.args.iter().cloned());
        if init {
            plan.init.push((full, a));
        } else {
            plan.containers.push((full, a));
        }
    }
    Ok(plan)
}

/// A Kubernetes memory quantity (`128Mi`, `1G`, `1048576`) in bytes.
fn memory_bytes(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    let units: [(&str, u64); 12] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("Ei", 1 << 60),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("E", 1_000_000_000_000_000_000),
    ];
    for (u, mult) in units {
        if let Some(n) = s.strip_suffix(u) {
            return n.parse::<u64>().ok()?.checked_mul(mult);
        }
    }
    s.parse().ok()
}

/// A Kubernetes CPU quantity (`500m`, `2`, `0.5`) as `--cpus`'s number.
fn cpus(v: &Value) -> Option<String> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.strip_suffix('m') {
            Some(m) => m.parse::<f64>().ok()? / 1000.0,
            None => s.parse().ok()?,
        },
        _ => return None,
    };
    (n > 0.0).then(|| {
        let s = format!("{n:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    })
}

#[path = "kube_yaml_emit.rs"]
mod emit;
pub use emit::to_yaml;

#[cfg(test)]
#[path = "kube_yaml_tests.rs"]
mod tests;
