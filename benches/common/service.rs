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
    // A shared store needs the deployment's KEK (the example refuses to start without one):
    // a fixed one for benches, unless the environment gives its own.
    if std::env::var_os("TIDEPASS_KEK").is_none() {
        command.env(
            "TIDEPASS_KEK",
            "YmVuY2hlcy1vbmx5LWtlay0zMi1ieXRlcy1sb25nLi4",
        );
    }
    Proc::listening(command)
}
