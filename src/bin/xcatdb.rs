use clap::Parser;
use xcatport::cli::{self, DbArgs};

fn main() {
    let args = DbArgs::parse();
    std::process::exit(cli::exit::run("xcatdb", || {
        xcatport::app::xcatdb::run(&args)?;
        Ok(())
    }));
}
