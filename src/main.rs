use std::process::ExitCode;

use clap::Parser;
use dsl_engine::cli::out;

#[global_allocator]
static ALLOC: dsl_engine::alloc::HugePageAlloc = dsl_engine::alloc::HugePageAlloc;

fn main() -> ExitCode {
    dsl_engine::alloc::retain_freed();
    let args = dsl_engine::cli::Args::parse();
    let result = dsl_engine::cli::run(args);
    let status = match result {
        Ok(status) => status.into(),
        Err(err) => {
            // A closed pipe (e.g. `| head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            out::stderr_fmt(format_args!("dsl-engine failed: {err}\n"));
            for cause in err.chain().skip(1) {
                out::stderr_fmt(format_args!("  caused by: {cause}\n"));
            }
            ExitCode::from(2)
        }
    };
    if let Some(e) = out::stdout_error() {
        out::stderr_fmt(format_args!(
            "dsl-engine failed: writing to standard output: {e}\n"
        ));
        return ExitCode::from(2);
    }
    status
}
