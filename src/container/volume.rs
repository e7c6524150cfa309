//! Volumes: directories in the store that outlive containers.
//!
//! Theory of operation: a volume is `STORE/volumes/NAME/` holding `_data/`
//! (what containers see, bind-mounted over their target) and `volume.json`
//! (name, creation time, labels, options, whether it is anonymous). A
//! volume is made under a `.tmp-*` name and renamed into place, and
//! removed by renaming it back to a `.tmp-*` name first, like everything
//! else in the store.
//!
//! Which container uses which volume is recorded in the container's
//! `config.json` (`mounts`, the user mounts it was created with), written
//! when the container is created. The `volumes` lock (`locks/volumes`)
//! covers both sides: `run` holds it from looking up or creating its
//! volumes until its container record exists, and removal holds it while
//! it checks that no container uses the volume and renames it away. So a
//! volume is never removed between being chosen by a new container and
//! being recorded as used.
//!
//! Files in a volume may belong to subordinate ids; the commands that
//! delete or read volume content (`volume rm`, `prune`, `export`, `import`,
//! `rm -v`) run inside the user namespace, as `rm` and `rmi` do.

use super::mountspec::VolumeRequest;
use super::{ContainerConfig, ContainerId};
use crate::image::extract::{self, ExtractOptions};
use crate::image::store::{remove_tree, tmp_name};
use crate::runtime::plan::MountOp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The metadata file next to `_data`.
const META: &str = "volume.json";

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("no such volume: {0}")]
    NotFound(String),
    #[error("volume {name} is in use by container {containers}; remove the container first")]
    InUse { name: String, containers: String },
    #[error("volume {0} is not empty; import needs an empty volume")]
    NotEmpty(String),
    #[error("unsupported volume option {0:?}: rless volumes are plain directories; the local driver's mount options (type, device, o) are not supported")]
    MountOption(String),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error("cannot import into volume {name}: {source}")]
    Import {
        name: String,
        source: extract::ExtractError,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// `volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub created: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
}

/// `STORE/volumes`.
pub fn volumes_dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

/// `STORE/volumes/NAME/_data`, what containers see.
pub fn data_dir(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(name).join("_data")
}

fn check_name(name: &str) -> Result<(), VolumeError> {
    if super::valid_name(name) {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_string()))
    }
}

/// Takes the `volumes` lock (released on drop).
pub fn lock(root: &Path) -> Result<fs::File, VolumeError> {
    let dir = root.join("locks");
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let p = dir.join("volumes");
    let f = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(io_err("open", &p))?;
    f.lock().map_err(io_err("lock", &p))?;
    Ok(f)
}

/// Reads one volume's metadata.
pub fn read(root: &Path, name: &str) -> Result<VolumeMeta, VolumeError> {
    check_name(name)?;
    let p = volumes_dir(root).join(name).join(META);
    let b = match fs::read(&p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(VolumeError::NotFound(name.to_string()))
        }
        r => r.map_err(io_err("read", &p))?,
    };
    serde_json::from_slice(&b).map_err(|e| io_err("parse", &p)(io::Error::other(e)))
}

/// Every volume, by name (unreadable ones are skipped).
pub fn list(root: &Path) -> Vec<VolumeMeta> {
    let Ok(rd) = fs::read_dir(volumes_dir(root)) else {
        return vec![];
    };
    let mut out: Vec<VolumeMeta> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| !n.starts_with('.'))
        .filter_map(|n| read(root, &n).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Creates a volume, or returns the existing one of that name (as docker's
/// `volume create` and `-v NAME:…` do). The bool says whether it is new.
/// The caller holds the [`lock`].
pub fn ensure(
    root: &Path,
    name: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
    anonymous: bool,
) -> Result<(VolumeMeta, bool), VolumeError> {
    check_name(name)?;
    if let Some(k) = options
        .keys()
        .find(|k| matches!(k.as_str(), "type" | "device" | "o"))
    {
        return Err(VolumeError::MountOption(k.clone()));
    }
    match read(root, name) {
        Ok(m) => return Ok((m, false)),
        Err(VolumeError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let dir = volumes_dir(root);
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let tmp = dir.join(tmp_name("vol"));
    let data = tmp.join("_data");
    fs::create_dir_all(&data).map_err(io_err("create", &data))?;
    let meta = VolumeMeta {
        name: name.to_string(),
        created: crate::image::time::now(),
        labels,
        options,
        anonymous,
    };
    let mp = tmp.join(META);
    fs::write(&mp, serde_json::to_vec_pretty(&meta).expect("json"))
        .map_err(io_err("write", &mp))?;
    let dst = dir.join(name);
    if let Err(e) = fs::rename(&tmp, &dst) {
        let _ = remove_tree(&tmp);
        return Err(io_err("rename into place", &dst)(e));
    }
    crate::events::named(root, crate::events::Kind::Volume, "create", name);
    Ok((meta, true))
}

/// The names of the volumes a container's mounts use.
pub fn used_by(config: &ContainerConfig) -> impl Iterator<Item = (&str, bool)> {
    config.mounts.iter().filter_map(|m| match m {
        MountOp::Volume {
            name, anonymous, ..
        } => Some((name.as_str(), *anonymous)),
        _ => None,
    })
}

/// Short ids of the containers (running or not) that use volume `name`,
/// leaving out `except`.
pub fn users(root: &Path, name: &str, except: Option<&ContainerId>) -> Vec<String> {
    super::list_at(root)
        .iter()
        .filter(|c| Some(&c.id) != except)
        .filter(|c| used_by(c).any(|(n, _)| n == name))
        .map(|c| c.id.short().to_string())
        .collect()
}

/// Removes a volume. Refuses one a container records, unless `unchecked`
/// (for rless's own clean-ups, which have checked; never `volume rm -f`:
/// a container would be left that can never start). The caller holds the
/// [`lock`] and runs inside the user namespace.
pub fn remove(root: &Path, name: &str, unchecked: bool) -> Result<(), VolumeError> {
    read(root, name)?;
    let using = users(root, name, None);
    if !unchecked && !using.is_empty() {
        return Err(VolumeError::InUse {
            name: name.to_string(),
            containers: using.join(", "),
        });
    }
    let dir = volumes_dir(root).join(name);
    let tmp = volumes_dir(root).join(tmp_name("del"));
    fs::rename(&dir, &tmp).map_err(io_err("remove", &dir))?;
    crate::events::named(root, crate::events::Kind::Volume, "remove", name);
    Ok(remove_tree(&tmp)?)
}

/// Looks up or creates the volume a new container asks for (an anonymous
/// one gets a random 64-hex name). Returns its plan step, and whether it
/// was made here (to remove if the container cannot be created). The
/// caller holds the [`lock`].
pub fn resolve(root: &Path, r: &VolumeRequest) -> Result<(MountOp, bool), VolumeError> {
    let anonymous = r.name.is_none();
    let name = r
        .name
        .clone()
        .unwrap_or_else(|| ContainerId::random().as_str().to_string());
    let (_, new) = ensure(root, &name, BTreeMap::new(), BTreeMap::new(), anonymous)?;
    let op = MountOp::Volume {
        source: data_dir(root, &name),
        name,
        target: r.target.clone(),
        readonly: r.readonly,
        copy: r.copy,
        anonymous,
    };
    Ok((op, new))
}

/// After a container is gone (`rm -v`, `--rm`): removes its anonymous
/// volumes that no other container uses. Returns the errors.
pub fn remove_anonymous(root: &Path, config: &ContainerConfig) -> Vec<VolumeError> {
    let anon: Vec<&str> = used_by(config)
        .filter(|(_, a)| *a)
        .map(|(n, _)| n)
        .collect();
    if anon.is_empty() {
        return vec![];
    }
    let _lock = match lock(root) {
        Ok(l) => l,
        Err(e) => return vec![e],
    };
    anon.into_iter()
        .filter(|n| users(root, n, Some(&config.id)).is_empty())
        .filter_map(|n| match remove(root, n, true) {
            Ok(()) | Err(VolumeError::NotFound(_)) => None,
            Err(e) => Some(e),
        })
        .collect()
}

/// Writes a volume's content as a tar stream (owners as the current
/// namespace sees them; no entry for the top directory).
pub fn export(root: &Path, name: &str, out: impl io::Write) -> Result<(), VolumeError> {
    read(root, name)?;
    let data = data_dir(root, name);
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    fn walk<W: io::Write>(
        b: &mut tar::Builder<W>,
        base: &Path,
        dir: &Path,
    ) -> Result<(), VolumeError> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(io_err("list", dir))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("under base");
            b.append_path_with_name(&p, rel)
                .map_err(io_err("archive", &p))?;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(b, base, &p)?;
            }
        }
        Ok(())
    }
    walk(&mut b, &data, &data)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_err("write the archive of", &data))
}

/// Extracts a tar stream into an empty volume, with the store's safe
/// extractor (every path stays inside the volume).
pub fn import(
    root: &Path,
    name: &str,
    input: impl io::Read,
    opts: &ExtractOptions,
) -> Result<(), VolumeError> {
    read(root, name)?;
    let data = data_dir(root, name);
    if fs::read_dir(&data)
        .map_err(io_err("list", &data))?
        .next()
        .is_some()
    {
        return Err(VolumeError::NotEmpty(name.to_string()));
    }
    extract::extract(input, &data, opts).map_err(|source| VolumeError::Import {
        name: name.to_string(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_list_remove() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let _l = lock(root).unwrap();
        let (m, new) = ensure(root, "v1", BTreeMap::new(), BTreeMap::new(), false).unwrap();
        assert!(new && m.name == "v1" && data_dir(root, "v1").is_dir());
        assert!(
            !ensure(root, "v1", BTreeMap::new(), BTreeMap::new(), false)
                .unwrap()
                .1
        );
        for bad in ["a/b", "..", "../x", ".hidden", ""] {
            assert!(matches!(
                ensure(root, bad, BTreeMap::new(), BTreeMap::new(), false),
                Err(VolumeError::BadName(_))
            ));
        }
        let opts = BTreeMap::from([("type".to_string(), "tmpfs".to_string())]);
        assert!(matches!(
            ensure(root, "v2", BTreeMap::new(), opts, false),
            Err(VolumeError::MountOption(_))
        ));
        assert_eq!(list(root).len(), 1);
        fs::write(data_dir(root, "v1").join("f"), "x").unwrap();
        let mut tarball = Vec::new();
        export(root, "v1", &mut tarball).unwrap();
        ensure(root, "v3", BTreeMap::new(), BTreeMap::new(), false).unwrap();
        import(root, "v3", &tarball[..], &ExtractOptions { id_limit: None }).unwrap();
        assert_eq!(
            fs::read_to_string(data_dir(root, "v3").join("f")).unwrap(),
            "x"
        );
        assert!(matches!(
            import(root, "v3", &tarball[..], &ExtractOptions { id_limit: None }),
            Err(VolumeError::NotEmpty(_))
        ));
        // An archive made with `tar -C dir -cf - .` has a "./" entry.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "./", io::empty()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(1);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "./g", &b"y"[..]).unwrap();
        ensure(root, "v4", BTreeMap::new(), BTreeMap::new(), false).unwrap();
        let dotted = b.into_inner().unwrap();
        import(root, "v4", &dotted[..], &ExtractOptions { id_limit: None }).unwrap();
        assert_eq!(
            fs::read_to_string(data_dir(root, "v4").join("g")).unwrap(),
            "y"
        );
        remove(root, "v1", false).unwrap();
        assert!(matches!(
            remove(root, "v1", false),
            Err(VolumeError::NotFound(_))
        ));
    }
}
