//! Builds and pushes the many-file image used by `bench/pull.sh`.
//!
//! Ignored by default; run through the script, or by hand:
//!
//! ```sh
//! BENCH_REF=127.0.0.1:5000/bench/many:latest \
//!   cargo test --release --test bench_push -- --ignored --nocapture
//! ```
//!
//! Knobs: `BENCH_FILES` (default 10000), `BENCH_BYTES` (default 200 MB),
//! `BENCH_SRC` (colon-separated host dirs, default /usr/lib:/usr/share:/usr/bin).

mod common;

use common::oci::{Built, Comp, Format, Registry};
use std::fs;
use std::path::{Path, PathBuf};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Regular files and symlinks under `dir`, depth first, sorted.
fn collect(
    dir: &Path,
    out: &mut Vec<(PathBuf, u64)>,
    max_files: usize,
    max_bytes: u64,
    total: &mut u64,
) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= max_files || *total >= max_bytes {
            return;
        }
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            collect(&p, out, max_files, max_bytes, total);
        } else if md.is_file() || md.file_type().is_symlink() {
            if md.is_file() && fs::File::open(&p).is_err() {
                continue;
            }
            let size = if md.is_file() { md.len() } else { 0 };
            // keep single huge files from eating the whole budget
            if size > 2 << 20 {
                continue;
            }
            *total += size;
            out.push((p, md.len()));
        }
    }
}

#[test]
#[ignore = "benchmark helper, run by bench/pull.sh"]
fn bench_push_many_files() {
    let Ok(reference) = std::env::var("BENCH_REF") else {
        panic!("set BENCH_REF=host:port/repo:tag");
    };
    let (host, rest) = reference
        .split_once('/')
        .expect("BENCH_REF needs host/repo:tag");
    let (repo, tag) = rest.rsplit_once(':').unwrap_or((rest, "latest"));
    let max_files = env_num("BENCH_FILES", 10_000) as usize;
    let max_bytes = env_num("BENCH_BYTES", 200 << 20);
    let src = std::env::var("BENCH_SRC").unwrap_or_else(|_| "/usr/lib:/usr/share:/usr/bin".into());

    let mut files = Vec::new();
    let mut total = 0;
    for d in src.split(':') {
        collect(Path::new(d), &mut files, max_files, max_bytes, &mut total);
    }
    eprintln!(
        "bench image: {} files, {} MB from {src}",
        files.len(),
        total >> 20
    );

    // four layers of contiguous path ranges
    let per = files.len().div_ceil(4).max(1);
    let mut tars = Vec::new();
    for chunk in files.chunks(per) {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        for (p, _) in chunk {
            let name = Path::new("payload").join(p.strip_prefix("/").unwrap());
            b.append_path_with_name(p, &name)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        tars.push(b.into_inner().unwrap());
    }
    let layers: Vec<(&[u8], Comp)> = tars.iter().map(|t| (t.as_slice(), Comp::Gzip)).collect();
    let img = Built::host(Format::Docker, &layers);

    let reg = Registry::at(host);
    let pushed = reg.push(repo, tag, &img);
    let blob_bytes: u64 = img.layers.iter().map(|l| l.size).sum();
    eprintln!(
        "pushed {} ({} layers, {} MB compressed) id {}",
        pushed.reference,
        img.layers.len(),
        blob_bytes >> 20,
        pushed.id
    );
    println!("BENCH_ID={}", pushed.id);
}
