//! The `imgexport` command: collect an osimage, pack it as an xCAT bundle.
//!
//! Messages follow xCAT's catalogue (spec §7); `Done!` is printed only
//! once the bundle is complete and in place (D4). Skipped files and extras
//! are reported as xCAT does and make the exit status 1, the bundle being
//! written all the same.

use crate::cli::ImgExportArgs;
use crate::image::collect::{self, CollectOptions, Role};
use crate::image::{pack, remote, BackendDb, GzOptions, ImageDb};
use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Runs the command on the MN under `--root`, DEST relative to the current
/// directory; the binary maps the result to an exit code.
pub fn run(args: &ImgExportArgs) -> Result<()> {
    let root = &args.common.root;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let db = BackendDb::open(root)?;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    export(
        &db,
        root,
        &cwd,
        args,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )?;
    Ok(())
}

/// Where the bundle goes: DEST as a file name, or `<DEST>/<image>.tgz` when
/// DEST is an existing directory; default `<cwd>/<image>.tgz`.
pub fn bundle_path(cwd: &Path, image: &str, dest: Option<&Path>) -> PathBuf {
    let default_name = format!("{}.tgz", collect::image_dir_name(image));
    match dest {
        Some(d) if !d.as_os_str().is_empty() => {
            let d = cwd.join(d);
            if d.is_dir() {
                d.join(default_name)
            } else {
                d
            }
        }
        _ => cwd.join(default_name),
    }
}

/// The remote path of `-R` (spec §3.5): DEST as given (a trailing `/`
/// names a directory), else `<image>.tgz` in the remote user's home.
pub fn remote_target(image: &str, dest: Option<&Path>) -> String {
    let default_name = format!("{}.tgz", collect::image_dir_name(image));
    match dest.map(|d| d.to_string_lossy().into_owned()) {
        Some(d) if d.ends_with('/') => format!("{d}{default_name}"),
        Some(d) if !d.is_empty() => d,
        _ => default_name,
    }
}

/// Exports through `db`, MN paths under `root`, relative DEST against `cwd`.
/// Data lines go to `out`, warnings to `err`. Returns the bundle path
/// (`host:path` with `-R`).
pub fn export(
    db: &dyn ImageDb,
    root: &Path,
    cwd: &Path,
    args: &ImgExportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<PathBuf> {
    let say = |w: &mut dyn Write, line: &str| -> Result<()> {
        writeln!(w, "{line}").map_err(|e| Error::io("<stdout>", e))
    };
    // With -R the bundle is built in a private temp dir (removed however
    // this ends) and copied to `<host>:<remote>`.
    let mut remote: Option<(String, String)> = None;
    let mut _private: Option<tempfile::TempDir> = None;
    let dest = match &args.remotehost {
        Some(host) => {
            remote::check_host(host)?;
            let target = remote_target(&args.image, args.dest.as_deref());
            let tmp = remote::workdir(db, root, cwd, "imgexport.")?;
            let name = target.rsplit('/').next().unwrap_or(&target).to_string();
            let local = tmp.path().join(&name);
            _private = Some(tmp);
            say(out, &format!("Exporting {} to {host}...", args.image))?;
            remote = Some((host.clone(), target));
            local
        }
        None => {
            let dest = bundle_path(cwd, &args.image, args.dest.as_deref());
            let where_to = dest.parent().unwrap_or(cwd);
            say(
                out,
                &format!("Exporting {} to {}...", args.image, where_to.display()),
            )?;
            dest
        }
    };
    let opts = CollectOptions {
        extras: args.extra.clone(),
        postscripts_node: args.postscripts.clone(),
    };
    let c = collect::collect(db, root, &args.image, &opts)?;
    for w in c.warnings.iter().chain(&c.notes) {
        say(err, w)?;
    }
    let mut lines: Vec<String> = Vec::new();
    let bundle = pack::pack(
        &c,
        root,
        &dest,
        GzOptions::default(),
        &mut |e| match e.role {
            Role::Manifest | Role::Litefile => {}
            Role::RootImgTree => lines.push("Packing root image. It will take a while".into()),
            // xCAT prints extras with a leading space.
            Role::Extra => lines.push(format!(" {}", e.source_display())),
            _ => lines.push(e.source_display()),
        },
    )?;
    for l in &lines {
        say(out, l)?;
    }
    say(
        out,
        &format!("Compressing {} bundle.  Please be patient.", args.image),
    )?;
    let bundle = match &remote {
        Some((host, target)) => {
            let at = format!("{host}:{target}");
            say(
                out,
                &format!("Moving the image bundle to the remote system location {at}"),
            )?;
            if let Err(e) = remote::send(&bundle, host, target) {
                let name = target.rsplit('/').next().unwrap_or(target);
                say(err, &format!("Unable to copy the image bundle {name} to the remote host (Maybe passwordless ssh was not setup?)"))?;
                return Err(e);
            }
            PathBuf::from(at)
        }
        None => bundle,
    };
    // D4: only now is the bundle complete and where it was asked to be.
    say(out, "Done!")?;
    if !c.warnings.is_empty() {
        return Err(Error::Refused(format!(
            "{} written, but {} file(s) were skipped",
            bundle.display(),
            c.warnings.len()
        )));
    }
    Ok(bundle)
}
