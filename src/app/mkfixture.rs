//! The `mkfixture` command: builds a synthetic management node under DIR and
//! prints one line saying how much it wrote and how long it took.

use std::time::Instant;

use clap::ValueEnum;

use crate::cli::FixtureArgs;
use crate::fixture::{self, Family, Spec};
use crate::Result;

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &FixtureArgs) -> Result<()> {
    let spec = Spec::new(args.scale, Family::parse(&args.distro)?, args.seed);
    let started = Instant::now();
    if args.bare {
        fixture::build_bare(&args.dir, &spec)?;
        println!(
            "mkfixture: {}: bare {} root (os-release, accounts with other ids) in {:.2} s",
            args.dir.display(),
            spec.family.name(),
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let report = fixture::build(&args.dir, &spec)?;
    println!(
        "{}",
        summary(&report, &spec, started.elapsed().as_secs_f64())
    );
    Ok(())
}

/// `mkfixture: DIR: rhel small seed 1: 612 files, 87 dirs, 9 symlinks, 71.2 MB in 0.4 s`
pub fn summary(report: &fixture::FixtureReport, spec: &Spec, seconds: f64) -> String {
    format!(
        "mkfixture: {}: {} {} seed {}: {} files, {} dirs, {} symlinks, {:.1} MB in {seconds:.2} s",
        report.root.display(),
        spec.family.name(),
        spec.scale
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default(),
        spec.seed,
        report.files,
        report.dirs,
        report.symlinks,
        report.bytes as f64 / 1e6,
    )
}
