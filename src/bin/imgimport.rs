use clap::Parser;
use xcatport::cli::{self, ImgImportArgs};

fn main() {
    let args = ImgImportArgs::parse();
    std::process::exit(cli::exit::run("imgimport", || {
        xcatport::app::imgimport::run(&args)?;
        Ok(())
    }));
}
