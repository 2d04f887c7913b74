//! Shared by the benches that drive the example services over HTTP: start a built example,
//! wait for its "listening on URL" line, stop it when dropped. The process handling is the
//! integration tests' own (`tests/it/proc.rs`).

use std::process::{Command, Stdio};

#[path = "../../tests/it/proc.rs"]
mod proc;
pub(crate) use proc::{Proc, free_port};

/// Start `bin` with `args` and wait for its "listening on URL" line.
pub(crate) fn start<I, S>(bin: &std::path::Path, args: I) -> Proc
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    assert!(
        bin.exists(),
        "{} missing: cargo build --release --examples",
        bin.display()
    );
    let mut command = Command::new(bin);
    command.args(args).stderr(Stdio::null());
    Proc::listening(command)
}
