use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOC: dsl_engine::alloc::HugePageAlloc = dsl_engine::alloc::HugePageAlloc;

fn main() -> ExitCode {
    let args = dsl_engine::cli::Args::parse();
    match dsl_engine::cli::run(args) {
        Ok(status) => status.into(),
        Err(err) => {
            // A closed pipe (e.g. `| head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("dsl-engine failed: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
