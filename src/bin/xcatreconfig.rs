use clap::Parser;
use xcatport::cli::{self, ReconfigArgs};

fn main() {
    let args = ReconfigArgs::parse();
    std::process::exit(cli::exit::run("xcatreconfig", || {
        xcatport::app::reconfig::run(&args)?;
        Ok(())
    }));
}
