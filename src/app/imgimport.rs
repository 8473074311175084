//! The `imgimport` command: validate a bundle, stage it on the install
//! filesystem, and import each image in it independently (D11).
//!
//! Nothing is written before the whole bundle has been validated; files are
//! moved into place by rename from a staging directory on the same
//! filesystem and the database rows are written last, in one transaction
//! (D5). `Successfully imported the image <img>.` is printed only after both.

use crate::cli::ImgImportArgs;
use crate::image::collect::under_root;
use crate::image::import::{self, Report};
use crate::image::manifest::{display_name, Manifest};
use crate::image::{remote, BackendDb, BundleReader, ImageDb, Packing};
use crate::mn::accounts::Accounts;
use crate::mn::root::Root;
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Runs the command on the MN under `--root`, BUNDLE relative to the
/// current directory; the binary maps the result to an exit code.
pub fn run(args: &ImgImportArgs) -> Result<()> {
    let root = &args.common.root;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let mut db = BackendDb::open(root)?;
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    import(
        &mut db,
        root,
        &cwd,
        args,
        &mut stdout.lock(),
        &mut stderr.lock(),
    )?;
    Ok(())
}

/// Imports through `db`, MN paths under `root`, a relative BUNDLE against
/// `cwd`. Returns the names of the imported images.
pub fn import(
    db: &mut dyn ImageDb,
    root: &Path,
    cwd: &Path,
    args: &ImgImportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Vec<String>> {
    let say = |w: &mut dyn Write, line: &str| {
        // A closed stdout must not turn a finished import into a failure.
        let _ = writeln!(w, "{line}");
    };
    // With -R the bundle is first copied into a private temp dir, removed
    // however this ends.
    let mut _private: Option<tempfile::TempDir> = None;
    let bundle = match &args.remotehost {
        Some(host) => {
            remote::check_host(host)?;
            let from = args.bundle.to_string_lossy().into_owned();
            let tmp = remote::workdir(&*db, root, cwd, "imgimport.")?;
            let name = from
                .rsplit('/')
                .find(|s| !matches!(*s, "" | "." | ".."))
                .unwrap_or("bundle");
            let local = tmp.path().join(name);
            _private = Some(tmp);
            say(
                out,
                &format!("Obtaining the image bundle from the remote system {host}:{from}"),
            );
            if let Err(e) = remote::fetch(host, &from, &local) {
                say(err, &format!("Unable to copy the image bundle {from} from the remote host (Maybe passwordless ssh was not setup?)"));
                return Err(e);
            }
            local
        }
        None => cwd.join(&args.bundle),
    };
    if !bundle.is_file() {
        return Err(Error::Refused(format!(
            "Cannot find {}",
            args.bundle.display()
        )));
    }
    if args.verbose {
        say(
            out,
            &format!("Bundle file is located at {}", bundle.display()),
        );
    }
    say(out, "Unbundling image...");
    let packing = if args.nozip {
        Packing::Plain
    } else {
        Packing::Gzip
    };
    let reader = BundleReader::open(&bundle, packing)?;
    let installroot = db.site("installdir")?.unwrap_or_else(|| "/install".into());
    let install_dir = under_root(root, &installroot);
    // A refused import leaves no trace, not even an install dir it made.
    let made_install_dir = !install_dir.exists();
    std::fs::create_dir_all(&install_dir).map_err(|e| Error::io(&install_dir, e))?;
    // Staging on the install filesystem so that placing is a rename.
    let staging = tempfile::Builder::new()
        .prefix(".xcatport-imgimport.")
        .tempdir_in(&install_dir)
        .map_err(|e| Error::io(&install_dir, e))?;
    // Owners by name: the numbers on this MN may differ from the exporter's.
    let accounts = Accounts::load(root)?;
    reader.extract_owned_by(staging.path(), Some(&accounts))?;

    let live = Root::open(root).is_ok_and(|r| crate::reconfig::apply::is_live(&r));
    let mut imported = Vec::new();
    let mut failures = Vec::new();
    for image_dir in &reader.listing().images {
        let dir = staging.path().join(image_dir);
        let outcome = (|| -> Result<String> {
            let bytes = std::fs::read(dir.join("manifest.xml"))
                .map_err(|e| Error::io(dir.join("manifest.xml"), e))?;
            let m = Manifest::parse(&bytes, &display_name(&bundle, image_dir))?;
            // The bundle file is named after the exporter's path.
            let original_litefile = m
                .litefile
                .as_deref()
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_string());
            if m.media.as_deref() == Some("required") {
                let v = |k: &str| m.osimage.get(k).cloned().unwrap_or_default();
                let media = format!("{installroot}/{}/{}", v("osvers"), v("osarch"));
                if !under_root(root, &media).is_dir() {
                    return Err(Error::Refused(format!(
                        "This image requires that you first copy media for {}-{}",
                        v("osvers"),
                        v("osarch")
                    )));
                }
            }
            let mut plan = import::plan(
                &dir,
                m,
                &installroot,
                args.profile.as_deref(),
                args.allow_kit_plugins,
            )?;
            if args.verbose {
                say(out, &format!("Adding {}", plan.image));
            }
            let mut notes: Vec<String> = Vec::new();
            if let Some(orig) = &original_litefile {
                let csv = dir.join(orig);
                if csv.is_file() {
                    plan.rows
                        .extend(import::litefile_rows(&csv, &plan.image, &*db)?);
                    notes.push("Updating the litefile table.".into());
                    notes.push("The litetree and statelite tables are untouched. You can update them if needed.".into());
                } else {
                    notes.push(format!("Could not find {orig}."));
                }
            }
            if let Some(nodes) = &args.postscripts {
                let (rows, unknown) = import::postscript_rows(&plan.manifest, nodes, &*db)?;
                notes.push("Adding postscripts.".into());
                if !unknown.is_empty() {
                    notes.push(format!("The following nodes will be skipped because they are not in the nodelist table.\n  {}", unknown.join(",")));
                }
                plan.rows.extend(rows);
            }
            let mut lines: Vec<String> = Vec::new();
            let mut report = |l: &str| lines.push(l.to_string());
            let result = import::execute(&plan, root, db, &mut report as &mut dyn Report);
            for l in &lines {
                say(out, l);
            }
            result?;
            if !plan.plugins.is_empty() && live {
                notes.push(format!(
                    "Installed the kit plugins {}; xcatd must be restarted to load them (/opt/xcat/sbin/restartxcatd).",
                    plan.plugins.join(", ")
                ));
            }
            for l in &notes {
                say(out, l);
            }
            Ok(plan.image)
        })();
        match outcome {
            Ok(name) => {
                say(out, &format!("Successfully imported the image {name}."));
                imported.push(name);
            }
            Err(e) => {
                say(err, &format!("{e}"));
                failures.push(image_dir.clone());
            }
        }
    }
    drop(staging);
    if imported.is_empty() && made_install_dir {
        let _ = std::fs::remove_dir(&install_dir);
    }
    if !failures.is_empty() {
        return Err(Error::Refused(format!(
            "{}: {} of {} image(s) not imported: {}",
            bundle.display(),
            failures.len(),
            reader.listing().images.len(),
            failures.join(", ")
        )));
    }
    Ok(imported)
}
