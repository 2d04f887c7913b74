//! Keys the library loads for the application: one instance's key files
//! (`keys::files::load_or_create`), the shared key ring as a source (`KeyRing`), and a store
//! named by a URL (`AnyStore::connect`).

use std::time::Duration;

use tidepass::ErrorKind;
use tidepass::keys::{Algorithm, Kek, RingPolicy, files};
use tidepass::store::key_ring::KeyRing;
use tidepass::store::{AnyStore, MemoryStore};

fn dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tidepass-keyfiles-{name}-{}", std::process::id()))
}

#[test]
fn key_files_are_made_once_owner_only_and_bad_ones_are_errors() {
    let d = dir("once");
    let first = files::load_or_create(&d, Algorithm::EdDSA).expect("made");
    let again = files::load_or_create(&d, Algorithm::ES256).expect("read");
    // A restart reads what is there (the algorithm only matters when a key is made).
    assert_eq!(first.keys.active().kid(), again.keys.active().kid());
    let secret = std::fs::read_to_string(d.join(files::REFRESH_SECRET_FILE)).expect("secret");
    assert_eq!(secret.trim().len(), 64);
    #[cfg(unix)]
    for f in [files::SIGNING_KEY_FILE, files::REFRESH_SECRET_FILE] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join(f))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
    }
    // A key file others may read is refused, not used.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let f = d.join(files::SIGNING_KEY_FILE);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = files::load_or_create(&d, Algorithm::EdDSA).expect_err("world-readable");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // Racing first starts agree on one key.
    let race = dir("race");
    let kids: Vec<String> = std::thread::scope(|s| {
        let all: Vec<_> = (0..8)
            .map(|_| s.spawn(|| files::load_or_create(&race, Algorithm::EdDSA).expect("made")))
            .collect();
        all.into_iter()
            .map(|h| {
                h.join()
                    .expect("thread")
                    .keys
                    .active()
                    .kid()
                    .as_str()
                    .to_owned()
            })
            .collect()
    });
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    assert_eq!(
        std::fs::read_dir(&race).expect("dir").count(),
        2,
        "no temporary file left"
    );
    let _ = std::fs::remove_dir_all(&race);
    // A file that is not what it should be is an error, never a panic or a fresh key.
    for (file, text) in [
        (files::REFRESH_SECRET_FILE, "zz"),
        (files::REFRESH_SECRET_FILE, "abc"),
        (files::REFRESH_SECRET_FILE, "é1"),
        (files::REFRESH_SECRET_FILE, ""),
        (
            files::SIGNING_KEY_FILE,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ),
    ] {
        let d = dir("bad");
        files::load_or_create(&d, Algorithm::EdDSA).expect("made");
        std::fs::write(d.join(file), text).expect("write");
        let e = files::load_or_create(&d, Algorithm::EdDSA).expect_err(text);
        assert!(!e.to_string().contains(text) || text.is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn a_key_ring_source_opens_the_ring_only_when_it_changed() {
    let kek = || Kek::from_secret(&[7u8; 32]).expect("kek");
    let policy = RingPolicy::for_server(
        Duration::from_secs(3600),
        Duration::from_secs(60),
        Duration::from_secs(300),
        Duration::from_secs(5),
    );
    let store = std::sync::Arc::new(MemoryStore::new());
    let ring = KeyRing::new(
        store.clone(),
        kek(),
        "https://auth.example",
        Algorithm::EdDSA,
        policy,
    );
    let first = ring.keys().await.expect("created");
    let now = tidepass::clock::Clock::now(&tidepass::clock::SystemClock);
    let (v, keys) = ring
        .changed_at(0, now)
        .await
        .expect("look")
        .expect("version 0 is news");
    assert_eq!(keys.keys.active().kid(), first.keys.active().kid());
    assert!(
        ring.changed_at(v, now).await.expect("look").is_none(),
        "unchanged: nothing opened"
    );
    // Another instance (the CLI, say) rotates: the next look here sees it.
    tidepass::store::key_ring::rotate_key_ring_at(
        &store,
        &kek(),
        "https://auth.example",
        &policy,
        now,
    )
    .await
    .expect("rotated");
    let (v2, _) = ring
        .changed_at(v, now)
        .await
        .expect("look")
        .expect("changed");
    assert_ne!(v2, v);

    // A store that went back (a failover to a replica, a restore) and was written again: the
    // same version number, another document. It is a change (compared by the document's
    // fingerprint, not its version: by version this instance would keep the old secrets).
    let replaced = std::sync::Arc::new(MemoryStore::new());
    let elsewhere = KeyRing::new(
        replaced,
        kek(),
        "https://auth.example",
        Algorithm::EdDSA,
        policy,
    );
    let (v3, keys) = elsewhere
        .changed_at(v, now)
        .await
        .expect("look")
        .expect("another document at version 1 is a change");
    assert_ne!(v3, v);
    assert_ne!(keys.keys.active().kid(), first.keys.active().kid());
}

#[tokio::test]
async fn a_store_url_of_a_scheme_this_build_lacks_is_a_config_error_naming_no_secret() {
    for url in [
        "mongodb://u:hunter2@db",
        "nonsense",
        "redis+cluster:hunter2",
    ] {
        let e = AnyStore::connect(url, "t").await.expect_err(url);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        if url != "redis+cluster:hunter2" {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{url}: {e}");
        }
    }
    assert!(
        !AnyStore::connect("memory:", "t")
            .await
            .expect("memory")
            .is_shared()
    );
}

/// Several instances with one KEK accept each other's DPoP nonces (before: each process
/// generated its own nonce secret, so a nonce from one instance was refused by the next);
/// another KEK's are refused, and the derived secret is not the KEK.
#[test]
fn instances_with_one_kek_share_their_dpop_nonces() {
    use tidepass::verify::dpop::Nonces;
    let window = Duration::from_secs(300);
    let kek = || Kek::from_secret(&[7u8; 32]).expect("kek");
    let a = Nonces::new(&*kek().derived_secret("dpop-nonces"), window).expect("a");
    let b = Nonces::new(&*kek().derived_secret("dpop-nonces"), window).expect("b");
    let other = Kek::from_secret(&[8u8; 32]).expect("kek");
    let c = Nonces::new(&*other.derived_secret("dpop-nonces"), window).expect("c");
    let now = 1_800_000_000;
    let nonce = a.issue_at(now);
    assert!(b.valid_at(&nonce, now + 10), "another instance accepts it");
    assert!(!c.valid_at(&nonce, now + 10), "another KEK's does not");
    assert_ne!(*kek().derived_secret("dpop-nonces"), [7u8; 32]);
    assert_ne!(
        *kek().derived_secret("dpop-nonces"),
        *kek().derived_secret("other")
    );
}
