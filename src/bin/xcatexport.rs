use clap::Parser;
use xcatport::cli::{self, ExportArgs};

fn main() {
    let args = ExportArgs::parse();
    std::process::exit(cli::exit::run("xcatexport", || {
        xcatport::app::export::run(&args)?;
        Ok(())
    }));
}
