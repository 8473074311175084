//! The `xcatdb` command: dumpxCATdb / restorexCATdb, natively or through
//! xCAT's own commands on a live MN, with the method chosen printed first.

use crate::cli::{DbArgs, DbCommand, DbDirArgs, DbMethod};
use crate::db::{self, dump, DumpOptions, RestoreOptions};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

const XCAT_SBIN: &str = "/opt/xcat/sbin";

/// Which implementation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Native,
    Xcat(PathBuf),
}

/// Auto: xCAT's commands when `--root /` and xCAT is installed, else native.
fn choose(args: &DbDirArgs) -> Result<Method> {
    let sbin = Path::new(XCAT_SBIN);
    let installed = sbin.join("dumpxCATdb").is_file() && sbin.join("restorexCATdb").is_file();
    match args.db_method {
        DbMethod::Native => Ok(Method::Native),
        DbMethod::Xcat if installed && args.common.root == Path::new("/") => {
            Ok(Method::Xcat(sbin.into()))
        }
        DbMethod::Xcat => Err(Error::Refused(format!(
            "--db-method xcat needs --root / and xCAT's {XCAT_SBIN}/dumpxCATdb and restorexCATdb"
        ))),
        DbMethod::Auto if installed && args.common.root == Path::new("/") => {
            Ok(Method::Xcat(sbin.into()))
        }
        DbMethod::Auto => Ok(Method::Native),
    }
}

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &DbArgs) -> Result<()> {
    let (dir_args, restore) = match &args.command {
        DbCommand::Dump(a) => (a, false),
        DbCommand::Restore(a) => (a, true),
    };
    if dir_args.binary {
        return Err(Error::NotAvailable("binary dumps (-b)".into()));
    }
    let method = choose(dir_args)?;
    match (method, restore) {
        (Method::Native, false) => native_dump(dir_args),
        (Method::Native, true) => native_restore(dir_args),
        (Method::Xcat(sbin), restore) => xcat_command(dir_args, &sbin, restore),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::Db(format!("JSON output: {e}")))?;
    println!("{text}");
    Ok(())
}

fn native_dump(args: &DbDirArgs) -> Result<()> {
    let root = &args.common.root;
    let mut backend = db::open(root)?;
    if !args.common.json {
        println!("Method: native ({})", backend.describe());
    }
    let opts = DumpOptions {
        all: args.all,
        skip_tables: std::env::var("XCAT_SKIPTABLES").ok(),
    };
    let stats = dump::dump_backend_to_dir(backend.as_mut(), &args.path, &opts)?;
    if args.common.json {
        return print_json(&stats);
    }
    if args.verbose {
        for s in &stats.skipped {
            println!("Skipping {} ({})", s.name, s.reason);
        }
        for t in &stats.tables {
            println!("Dumped {} ({} rows)", t.table, t.rows);
        }
    }
    for name in &stats.unknown {
        eprintln!("warning: table {name} is not in the xCAT schema and was not dumped");
    }
    let rows: u64 = stats.tables.iter().map(|t| t.rows).sum();
    println!(
        "Backup Complete: {} tables, {rows} rows in {} ({:.2} s).",
        stats.tables.len(),
        args.path.display(),
        stats.seconds
    );
    Ok(())
}

fn native_restore(args: &DbDirArgs) -> Result<()> {
    let root = &args.common.root;
    let mut backend = db::open(root)?;
    if !args.common.json {
        println!("Method: native ({})", backend.describe());
    }
    let opts = RestoreOptions {
        all: args.all,
        exact: false,
    };
    let stats = dump::restore_backend_from_dir(backend.as_mut(), &args.path, &opts)?;
    if args.common.json {
        return print_json(&stats);
    }
    for i in &stats.ignored {
        eprintln!(
            "warning: ignored {}: {}",
            args.path.join(&i.name).display(),
            i.reason
        );
    }
    if args.verbose {
        for s in &stats.skipped {
            println!("Skipping {} ({})", s.name, s.reason);
        }
        for t in &stats.tables {
            println!("Restored {} ({} rows)", t.table, t.rows);
        }
    }
    let rows: u64 = stats.tables.iter().map(|t| t.rows).sum();
    println!(
        "Restore of Database Complete: {} tables, {rows} rows ({:.2} s).",
        stats.tables.len(),
        stats.seconds
    );
    Ok(())
}

/// dumpxCATdb / restorexCATdb through xcatd. Before a restore every file is
/// validated natively, because restorexCATdb exits 0 on failed tables.
fn xcat_command(args: &DbDirArgs, sbin: &Path, restore: bool) -> Result<()> {
    let program = sbin.join(if restore {
        "restorexCATdb"
    } else {
        "dumpxCATdb"
    });
    if !args.common.json {
        println!("Method: xCAT ({})", program.display());
    }
    if restore {
        for entry in std::fs::read_dir(&args.path).map_err(|e| Error::io(&args.path, e))? {
            let path = entry.map_err(|e| Error::io(&args.path, e))?.path();
            let stem = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".csv"));
            if let Some(table) = stem.and_then(db::schema::table) {
                dump::validate(&db::TableSource { table, file: path })?;
            }
        }
    }
    let mut argv: Vec<String> = Vec::new();
    if args.all {
        argv.push("-a".into());
    }
    if args.verbose {
        argv.push("-V".into());
    }
    argv.push("-p".into());
    argv.push(args.path.display().to_string());
    let output = duct::cmd(&program, &argv)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::io(&program, e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !args.common.json {
        print!("{text}");
    }
    let failed = text.lines().any(|l| l.starts_with("Error"));
    if !output.status.success() || failed {
        return Err(Error::Command {
            command: program.display().to_string(),
            detail: text
                .lines()
                .find(|l| l.starts_with("Error"))
                .unwrap_or("non-zero exit")
                .to_string(),
        });
    }
    if args.common.json {
        print_json(
            &serde_json::json!({ "method": program.display().to_string(), "output": text }),
        )?;
    }
    Ok(())
}
