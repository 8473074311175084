//! `xcat-rpms.tar`: the repos as a plain tar, so standard tools read it.
//!
//! The first member is the `xcatport-repos.json` index (name, kind, original
//! base URL, gpgcheck settings, key members, packages), then every repo file
//! under `repos/<name>/…` and the keys that lived outside their repo under
//! `keys/<name>/…`. Files are streamed from disk one at a time.

use std::fs::File;
use std::io::Write;

use crate::error::{Error, IoContext, Result};
use crate::repo::{Repo, RepoIndex, INDEX_FORMAT};

/// Name of the index member, first in the tar.
pub const INDEX_MEMBER: &str = "xcatport-repos.json";

/// Writes `repos` as a tar to `out`; returns the number of bytes of file
/// data written (for the plan and progress).
pub fn pack<W: Write>(repos: &[Repo], out: W) -> Result<u64> {
    let index = RepoIndex {
        format: INDEX_FORMAT,
        repos: repos.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&index)
        .map_err(|e| Error::Refused(format!("cannot encode {INDEX_MEMBER}: {e}")))?;
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let tar_err = |what: &str, e: std::io::Error| Error::io(format!("xcat-rpms.tar ({what})"), e);
    let mut header = tar::Header::new_ustar();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, INDEX_MEMBER, json.as_slice())
        .map_err(|e| tar_err(INDEX_MEMBER, e))?;
    let mut bytes = 0u64;
    for repo in repos {
        for f in &repo.files {
            let mut file = File::open(&f.source).at(&f.source)?;
            let meta = file.metadata().at(&f.source)?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata_in_mode(&meta, tar::HeaderMode::Deterministic);
            header.set_mode(0o644);
            tar.append_data(&mut header, &f.member, &mut file)
                .map_err(|e| tar_err(&f.member, e))?;
            bytes += meta.len();
        }
    }
    tar.into_inner()
        .map_err(|e| tar_err("finishing", e))?
        .flush()
        .map_err(|e| tar_err("flushing", e))?;
    Ok(bytes)
}
