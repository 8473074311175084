use clap::Parser;
use xcatport::cli::{self, DocsArgs};

fn main() {
    let args = DocsArgs::parse();
    std::process::exit(cli::exit::run("xcatport-docs", || {
        for path in cli::docs::write_all(&args.out)? {
            println!("{}", path.display());
        }
        Ok(())
    }));
}
