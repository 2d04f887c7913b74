//! The conformance suite against every store this build has.

use tidepass::store::{MemoryStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}

#[cfg(feature = "redb")]
mod redb {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tidepass::store::{RedbStore, conformance};

    pub(crate) fn temp_path(name: &str) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidepass-redb-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("sessions.redb")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redb_store_conforms() {
        conformance::run_all(|| async { RedbStore::open(temp_path("conformance")).expect("open") })
            .await;
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_file_fails_cleanly() {
        let path = temp_path("locked");
        let _first = RedbStore::open(&path).expect("open");
        let second = RedbStore::open(&path).expect_err("the file is in use");
        assert!(second.is_store(), "{second}");
    }
}

/// A process killed with SIGKILL in the middle of a login/refresh/logout load loses nothing it
/// acknowledged. The test runs twice: as the parent (no env var), it starts itself as a child
/// with `TIDEPASS_CRASH_DB` set, reads the child's acknowledgements, kills it with SIGKILL, and
/// checks every acknowledged write in the reopened database.
#[cfg(all(feature = "redb", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_loses_no_acknowledged_write_on_sigkill() {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::refresh::RefreshSecrets;
    use tidepass::store::{RedbStore, SessionStore};
    use tidepass::{Issuer, Login, Minter, SessionId};

    if let Ok(path) = std::env::var("TIDEPASS_CRASH_DB") {
        // Child: acknowledge each durable write on stdout, forever, until killed.
        let store = RedbStore::open(&path).expect("child open");
        let minter =
            Minter::new(SigningKey::generate(Algorithm::EdDSA).expect("k"), "i", "a").expect("m");
        let issuer = Issuer::builder(store, minter)
            .refresh_secrets(RefreshSecrets::from_secret(1, &[1u8; 32]).expect("s"))
            .build()
            .expect("issuer");
        for i in 0u64.. {
            let mut pair = issuer
                .login(Login::new(format!("user{}", i % 7)))
                .await
                .expect("login");
            println!("ACK login {}", pair.session_id);
            for _ in 0..(i % 4) {
                pair = issuer
                    .refresh(pair.refresh.expose())
                    .await
                    .expect("refresh");
                let s = issuer
                    .store()
                    .load(pair.session_id)
                    .await
                    .expect("load")
                    .expect("s");
                println!("ACK rotate {} {}", pair.session_id, s.generation);
            }
            if i % 5 == 0 {
                assert!(issuer.logout(pair.session_id).await.expect("logout"));
                println!("ACK logout {}", pair.session_id);
            }
        }
        return;
    }

    let path = redb::temp_path("sigkill");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args([
            "stores::redb_loses_no_acknowledged_write_on_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TIDEPASS_CRASH_DB", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut acked: HashMap<SessionId, (u64, bool)> = HashMap::new();
    let mut count = 0;
    while count < 400 {
        let Some(Ok(line)) = lines.next() else { break };
        // The harness may print on the same line: take what follows the marker.
        let Some((_, ack)) = line.split_once("ACK ") else {
            continue;
        };
        let parts: Vec<&str> = ack.split_whitespace().collect();
        match parts.as_slice() {
            ["login", sid] => {
                acked.insert(sid.parse().expect("sid"), (1, false));
            }
            ["rotate", sid, generation] => {
                acked.insert(
                    sid.parse().expect("sid"),
                    (generation.parse().expect("gen"), false),
                );
            }
            ["logout", sid] => {
                acked.get_mut(&sid.parse().expect("sid")).expect("known").1 = true;
            }
            _ => panic!("unexpected acknowledgement {ack:?}"),
        }
        count += 1;
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    child.wait().expect("reap");
    assert!(
        count >= 400,
        "the child acknowledged only {count} writes before stopping"
    );

    let store = RedbStore::open(&path).expect("reopen after SIGKILL");
    for (sid, (generation, logged_out)) in &acked {
        let loaded = store.load(*sid).await.expect("load");
        // The issuer's built-in cleanup deletes ended sessions: a logged-out one may be gone,
        // which still refuses its tokens (UnknownSession).
        let Some(s) = loaded else {
            assert!(logged_out, "acknowledged session {sid} lost");
            continue;
        };
        // The child may have committed one more rotation it had no time to acknowledge.
        assert!(
            s.generation == *generation || s.generation == generation + 1,
            "{sid}: {} vs acked {generation}",
            s.generation
        );
        if *logged_out {
            assert!(s.revoked.is_some(), "acknowledged logout of {sid} lost");
        }
    }
}
