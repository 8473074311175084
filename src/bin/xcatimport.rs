use clap::Parser;
use xcatport::cli::{self, ImportArgs};

fn main() {
    let args = ImportArgs::parse();
    std::process::exit(cli::exit::run("xcatimport", || {
        xcatport::app::import::run(&args)?;
        Ok(())
    }));
}
