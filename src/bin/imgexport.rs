use clap::Parser;
use xcatport::cli::{self, ImgExportArgs};

fn main() {
    let args = ImgExportArgs::parse();
    std::process::exit(cli::exit::run("imgexport", || {
        xcatport::app::imgexport::run(&args)?;
        Ok(())
    }));
}
