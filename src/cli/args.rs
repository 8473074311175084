//! Option structures for each binary (clap derive). The library's commands
//! take these directly, so the option set is defined exactly once.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Options every command shares.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Resolve every management-node path under DIR (a synthetic or mounted MN)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Print a machine-readable JSON result on stdout
    #[arg(long)]
    pub json: bool,
}

/// Compression of the data stream on the stick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// multithreaded zstd (default)
    Zstd,
    /// multithreaded xz: smaller and slower
    Xz,
    /// plain tar
    None,
}

/// xcatexport: seal a management node onto a stick or directory.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatexport",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Snapshot an xCAT management node onto a USB stick or directory",
    long_about = "Snapshot an xCAT management node (xCAT packages, database, /install, \
/tftpboot, /etc/xcat, service configuration, keys and certificates) onto a USB stick \
or directory, together with a standalone xcatimport that restores it with one command."
)]
pub struct ExportArgs {
    /// Directory or mounted stick to write the snapshot to
    #[arg(value_name = "TARGET")]
    pub target: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Profile name (from profiles/) or path to a profile TOML file
    #[arg(long, value_name = "NAME|FILE", default_value = "default")]
    pub profile: String,
    /// Extra include glob (repeatable), relative to the root
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Extra exclude glob (repeatable), relative to the root
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Print the plan and whether the target has room; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Directory or URL holding xCAT and dependency packages (repeatable)
    #[arg(long, value_name = "DIR|URL")]
    pub rpms: Vec<String>,
    /// Compression of the data stream
    #[arg(long, value_enum, default_value_t = Compression::Zstd)]
    pub compress: Compression,
    /// Compression level (zstd 1-19, xz 0-9)
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,
    /// Split volumes into slices of SIZE bytes (suffixes K, M, G)
    #[arg(long, value_name = "SIZE")]
    pub split: Option<String>,
    /// Write into a non-empty target directory
    #[arg(long)]
    pub force: bool,
    /// Verify by reading the snapshot back from the stick itself rather
    /// than from memory: catches fake-capacity sticks and flash that loses
    /// data, at the cost of reading the whole stick once
    #[arg(long)]
    pub verify_media: bool,
    /// Encrypt the secret files and the database dump with age into
    /// xcat-secrets.tar.zst.age (asks for a passphrase on a terminal unless a key is given)
    #[arg(long)]
    pub encrypt: bool,
    /// With --encrypt: the passphrase is the first line of FILE
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub passphrase_file: Option<PathBuf>,
    /// With --encrypt: an age public key (age1…) that can decrypt (repeatable)
    #[arg(long, value_name = "AGE1…", requires = "encrypt")]
    pub recipient: Vec<String>,
    /// With --encrypt: a file of age public keys, one per line (repeatable)
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub recipients_file: Vec<PathBuf>,
    /// Static xcatimport binary to put on the stick
    #[arg(long, value_name = "PATH")]
    pub import_binary: Option<PathBuf>,
    /// Verbose output
    #[arg(short = 'v', short_alias = 'V', long)]
    pub verbose: bool,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

/// xcatimport: restore a management node from a snapshot.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatimport",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Restore an xCAT management node from an xcatport snapshot",
    long_about = "Restore an xCAT management node from an xcatport snapshot: check \
everything first, then set up package repos, install xCAT, lay the files back, restore \
the database, regenerate configuration and start the daemons. Every step is journaled \
so that an interrupted restore can be resumed or rolled back."
)]
pub struct ImportArgs {
    /// Snapshot directory (default: the directory holding this binary)
    #[arg(value_name = "SOURCE")]
    pub source: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Print every step that would be taken; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Only check the snapshot and the machine; exit 0 if a restore would proceed
    #[arg(long)]
    pub verify: bool,
    /// Do not restore the database (HA standby)
    #[arg(long)]
    pub skip_db: bool,
    /// Do not install packages (xCAT already installed at the snapshot's version)
    #[arg(long)]
    pub skip_packages: bool,
    /// Continue an interrupted restore from its journal
    #[arg(long, conflicts_with = "rollback")]
    pub resume: bool,
    /// Undo an interrupted or finished restore from its journal
    #[arg(long)]
    pub rollback: bool,
    /// Restore over an existing xCAT installation or database
    #[arg(long)]
    pub force: bool,
    /// Accept a different distro version or family (with a warning)
    #[arg(long)]
    pub force_distro: bool,
    /// Do not run the make* commands after the restore
    #[arg(long)]
    pub no_regen: bool,
    /// Do not enable and start the daemons
    #[arg(long)]
    pub no_start: bool,
    /// Answer yes to every prompt
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Encrypted stick: the passphrase is the first line of FILE
    #[arg(long, value_name = "FILE", conflicts_with = "identity")]
    pub passphrase_file: Option<PathBuf>,
    /// Encrypted stick: an age identity file (AGE-SECRET-KEY-1…) (repeatable)
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// Verbose output
    #[arg(short = 'v', short_alias = 'V', long)]
    pub verbose: bool,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

/// imgexport: xCAT's per-image bundle export.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "imgexport",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Creates a tarball (bundle) of an existing xCAT image"
)]
pub struct ImgExportArgs {
    /// osimage name
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Bundle file name, or an existing directory to put IMAGE.tgz in
    #[arg(value_name = "DEST")]
    pub dest: Option<PathBuf>,
    /// Extra file or directory to pack, with an optional destination directory
    #[arg(short = 'e', long = "extra", value_name = "FILE[:DIR]")]
    pub extra: Vec<String>,
    /// Record this node's postscripts and postbootscripts
    #[arg(short = 'p', long = "postscripts", value_name = "NODE")]
    pub postscripts: Option<String>,
    /// Copy the bundle to user@host (scp)
    #[arg(short = 'R', long = "remotehost", value_name = "USER@HOST")]
    pub remotehost: Option<String>,
    /// Verbose output (as in xCAT; the version is --version)
    #[arg(short = 'v', short_alias = 'V', long)]
    pub verbose: bool,
    #[command(flatten)]
    pub common: Common,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

/// imgimport: xCAT's per-image bundle import.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "imgimport",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Takes in an xCAT image bundle and defines it to xCAT so you can use it"
)]
pub struct ImgImportArgs {
    /// Bundle file (.tgz)
    #[arg(value_name = "BUNDLE")]
    pub bundle: PathBuf,
    /// Nodes or groups whose postscripts are set from the bundle
    #[arg(short = 'p', long = "postscripts", value_name = "NODES")]
    pub postscripts: Option<String>,
    /// Import as a copy under a new profile and image name
    #[arg(short = 'f', long = "profile", value_name = "PROFILE")]
    pub profile: Option<String>,
    /// Fetch the bundle from user@host first (scp)
    #[arg(short = 'R', long = "remotehost", value_name = "USER@HOST")]
    pub remotehost: Option<String>,
    /// The bundle is a plain, uncompressed tar
    #[arg(short = 'n', long = "nozip")]
    pub nozip: bool,
    /// Install the kits' xCAT plugins (code xcatd runs as root) into
    /// /opt/xcat/lib/perl/xCAT_plugin; without it a bundle with plugins is refused
    #[arg(long = "allow-kit-plugins")]
    pub allow_kit_plugins: bool,
    /// Verbose output (as in xCAT; the version is --version)
    #[arg(short = 'v', short_alias = 'V', long)]
    pub verbose: bool,
    #[command(flatten)]
    pub common: Common,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

/// How xcatdb reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbMethod {
    /// xCAT's own commands on a live MN with --root /, native otherwise
    Auto,
    /// xcatport's own backends (SQLite, PostgreSQL, MySQL/MariaDB)
    Native,
    /// xCAT's dumpxCATdb/restorexCATdb
    Xcat,
}

/// Options shared by `xcatdb dump` and `xcatdb restore`.
#[derive(Debug, Clone, Args)]
pub struct DbDirArgs {
    /// Directory of <table>.csv files
    #[arg(short = 'p', long = "path", value_name = "DIR")]
    pub path: PathBuf,
    /// Include eventlog and auditlog
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Binary dump (PostgreSQL pg_dump / pg_restore)
    #[arg(short = 'b', long = "binary")]
    pub binary: bool,
    /// How the database is reached
    #[arg(long, value_enum, default_value_t = DbMethod::Auto)]
    pub db_method: DbMethod,
    /// Verbose: one line per table
    #[arg(short = 'V', short_alias = 'v', long)]
    pub verbose: bool,
    #[command(flatten)]
    pub common: Common,
}

/// xcatdb: native dumpxCATdb / restorexCATdb.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatdb",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Dump or restore the xCAT database as tabdump CSV files (dumpxCATdb/restorexCATdb)"
)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum DbCommand {
    /// Write one <table>.csv per table into DIR, as dumpxCATdb does
    Dump(DbDirArgs),
    /// Validate every <table>.csv in DIR, then replace those tables, as restorexCATdb does
    Restore(DbDirArgs),
}

/// Size of the synthetic management node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// a few MB, under 2 s: tests
    Small,
    /// a few hundred MB
    Medium,
    /// a few GB and ~100k files: benchmarks
    Large,
}

/// xcatport-mkfixture: build a synthetic management node.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatport-mkfixture",
    version = crate::version::LONG,
    about = "Build a synthetic xCAT management node under DIR (tests, demo, benchmarks)"
)]
pub struct FixtureArgs {
    /// Directory to create the management node in (must be empty or absent)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// How big
    #[arg(long, value_enum, default_value_t = Scale::Small)]
    pub scale: Scale,
    /// Distro family of the synthetic MN
    #[arg(long, default_value = "rhel", value_parser = ["rhel", "sles", "ubuntu"])]
    pub distro: String,
    /// Seed for the pseudo-random content
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Only a freshly installed distro (os-release, accounts with other
    /// uid/gid numbers, no xCAT): a root to restore into
    #[arg(long)]
    pub bare: bool,
}

/// xcatport-docs: write man pages and shell completions.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatport-docs",
    version = crate::version::LONG,
    about = "Write man pages and shell completions for every xcatport command"
)]
pub struct DocsArgs {
    /// Output directory (man/ and completions/ are created inside)
    #[arg(value_name = "DIR")]
    pub out: PathBuf,
}

/// xcatreconfig: retarget a restored MN to a new hostname and addresses.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "xcatreconfig",
    version = crate::version::LONG,
    disable_version_flag = true,
    about = "Change the management node's hostname and IP addresses after a restore",
    long_about = "Change the hostnames, domain, IP addresses and networks that a restored \
xCAT management node's database and configuration refer to, with a dry-run diff, backups \
and rollback through the same journal as xcatimport."
)]
pub struct ReconfigArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print a diff of every table row and file that would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply without asking
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The MN's new hostname (short or fully qualified)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Replace one IP address (repeatable)
    #[arg(long = "ip", value_name = "OLD=NEW")]
    pub ips: Vec<String>,
    /// Move a network; node addresses keep their offset (repeatable)
    #[arg(long = "network", value_name = "OLD_CIDR=NEW_CIDR")]
    pub networks: Vec<String>,
    /// The new DNS domain
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// CSV file of node,ip giving node addresses explicitly
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Undo the last reconfiguration from its journal
    #[arg(long)]
    pub rollback: bool,
    /// Verbose output
    #[arg(short = 'v', short_alias = 'V', long)]
    pub verbose: bool,
    /// Print version
    #[arg(long, action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}
