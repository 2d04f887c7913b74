//! Processes a test or bench starts: one that says where it listens, killed and reaped when
//! dropped (also when the test panics), and a free loopback port to give one. Shared with
//! `benches/` (`#[path]`), so it uses nothing but std.

/// A process the test started, which says where it listens; killed and reaped when dropped.
pub(crate) struct Proc {
    pub(crate) child: std::process::Child,
    /// What followed `listening on ` on its stdout.
    pub(crate) url: String,
}

impl Proc {
    /// Spawn `command` with its stdout piped and wait for its `listening on URL` line; the
    /// rest of its stdout is drained so it never blocks on a full pipe.
    pub(crate) fn listening(mut command: std::process::Command) -> Self {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{command:?} exited before listening"))
                .expect("read");
            if let Some(url) = line.split("listening on ").nth(1) {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self { child, url }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
