use clap::Parser;
use xcatport::cli::{self, FixtureArgs};

fn main() {
    let args = FixtureArgs::parse();
    std::process::exit(cli::exit::run("xcatport-mkfixture", || {
        xcatport::app::mkfixture::run(&args)?;
        Ok(())
    }));
}
