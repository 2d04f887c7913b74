//! The conformance suite every [`KeyStore`] must pass: the compare-and-set rule, a race of
//! creators that must make one ring, and the sealing seen from the store's side (what it
//! holds opens only with the KEK, and holds no plaintext key).
//!
//! ```no_run
//! # async fn demo() {
//! use tidepass::{conformance, store::MemoryStore};
//! conformance::key_ring::run_all(|| async { MemoryStore::new() }).await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use crate::error::ErrorKind;
use crate::keys::RingPolicy;
use crate::keys::{Algorithm, Kek};
use crate::store::key_ring::{
    KeyStore, load_key_ring, load_key_ring_at, maintain_key_ring_at, reseal_key_ring,
};

const ISS: &str = "https://auth.example";

/// Every check, each on a fresh, empty store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: KeyStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    compare_and_set(make().await).await;
    racing_creators_make_one_ring(make().await).await;
    the_ring_opens_only_with_its_kek(make().await).await;
    racing_rotations_make_one_key(make().await).await;
}

/// `swap_key_ring` writes only over the version it names, and counts versions up from 1.
pub async fn compare_and_set<S: KeyStore>(store: S) {
    assert_eq!(store.load_key_ring().await.expect("load"), None, "empty");
    assert!(
        !store.swap_key_ring(1, b"a").await.expect("swap"),
        "no version 1 yet"
    );
    assert!(store.swap_key_ring(0, b"a").await.expect("swap"), "create");
    let first = store.load_key_ring().await.expect("load").expect("written");
    assert_eq!((first.version, &first.doc[..]), (1, &b"a"[..]));
    assert!(
        !store.swap_key_ring(0, b"b").await.expect("swap"),
        "create twice"
    );
    assert!(
        !store.swap_key_ring(2, b"b").await.expect("swap"),
        "a future version"
    );
    assert!(store.swap_key_ring(1, b"b").await.expect("swap"), "update");
    let second = store.load_key_ring().await.expect("load").expect("written");
    assert_eq!((second.version, &second.doc[..]), (2, &b"b"[..]));
}

/// Sixteen instances starting at once on an empty store: one ring, the same keys for all.
pub async fn racing_creators_make_one_ring<S: KeyStore>(store: S) {
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let kek = Kek::from_secret(&[9u8; 32]).expect("kek");
            load_key_ring(&*store, &kek, ISS, Algorithm::EdDSA)
                .await
                .expect("ring")
                .keys
                .active()
                .kid()
                .as_str()
                .to_owned()
        }));
    }
    let mut kids = Vec::new();
    for t in tasks {
        kids.push(t.await.expect("task"));
    }
    kids.dedup();
    assert_eq!(kids.len(), 1, "one ring for every instance: {kids:?}");
    let stored = store.load_key_ring().await.expect("load").expect("ring");
    assert_eq!(stored.version, 1, "created once, never overwritten");
}

/// The stored ring holds no plaintext key; it opens with its KEK only (another KEK is named
/// in the error, the right id with the wrong key is refused); instances in the middle of a
/// KEK rotation (either KEK, also opening the other) read it before and after the re-seal;
/// after it, it opens with the new KEK only, to the same keys; a re-seal done twice changes
/// nothing.
pub async fn the_ring_opens_only_with_its_kek<S: KeyStore>(store: S) {
    let k1 = Kek::from_secret(&[1u8; 32]).expect("kek");
    let ring = load_key_ring(&store, &k1, ISS, Algorithm::ES256)
        .await
        .expect("ring");
    let kid = ring.keys.active().kid().as_str().to_owned();
    let pem = ring.keys.active().export_private().expect("pem");
    let stored = store.load_key_ring().await.expect("load").expect("ring");
    let doc = String::from_utf8_lossy(&stored.doc);
    for line in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
    {
        assert!(!doc.contains(line), "plaintext key material in the store");
    }
    let again = load_key_ring(&store, &k1, ISS, Algorithm::ES256)
        .await
        .expect("second instance");
    assert_eq!(again.keys.active().kid().as_str(), kid);

    let k2 = Kek::from_secret(&[2u8; 32]).expect("kek");
    let e = load_key_ring(&store, &k2, ISS, Algorithm::ES256)
        .await
        .expect_err("another KEK");
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    let said = format!("{e}: {:?}", std::error::Error::source(&e));
    assert!(said.contains(k1.id()) && said.contains(k2.id()), "{said}");
    let same_id = Kek::new(k1.id(), &[3u8; 32]).expect("kek");
    let e = load_key_ring(&store, &same_id, ISS, Algorithm::ES256)
        .await
        .expect_err("wrong key for the id");
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    let e = load_key_ring(&store, &k1, "https://other.example", Algorithm::ES256)
        .await
        .expect_err("another issuer's ring");
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert_eq!(
        store
            .load_key_ring()
            .await
            .expect("load")
            .expect("ring")
            .version,
        1,
        "no refusal wrote anything"
    );

    // A KEK rotation without downtime: instances holding the old KEK that also opens the
    // new one, and instances holding the new one that also opens the old one, all read the
    // ring before and after the re-seal.
    let before = Kek::from_secret(&[1u8; 32])
        .expect("kek")
        .also_opens(Kek::from_secret(&[2u8; 32]).expect("kek"));
    let after = Kek::from_secret(&[2u8; 32])
        .expect("kek")
        .also_opens(Kek::from_secret(&[1u8; 32]).expect("kek"));
    for k in [&before, &after] {
        load_key_ring(&store, k, ISS, Algorithm::ES256)
            .await
            .expect("before the re-seal");
    }
    reseal_key_ring(&store, ISS, &k1, &k2)
        .await
        .expect("reseal");
    for k in [&before, &after] {
        load_key_ring(&store, k, ISS, Algorithm::ES256)
            .await
            .expect("after the re-seal");
    }
    reseal_key_ring(&store, ISS, &k1, &k2)
        .await
        .expect("again: nothing to do");
    let resealed = load_key_ring(&store, &k2, ISS, Algorithm::ES256)
        .await
        .expect("opens with the new KEK");
    assert_eq!(resealed.keys.active().kid().as_str(), kid);
    assert!(
        load_key_ring(&store, &k1, ISS, Algorithm::ES256)
            .await
            .is_err(),
        "the old KEK no longer opens it"
    );
}

/// Sixteen instances apply the rotation rules at the same instant, twice (when the next key
/// is due, then when it takes over): one next key is made, and all of them sign with it.
pub async fn racing_rotations_make_one_key<S: KeyStore>(store: S) {
    const T: u64 = 1_800_000_000;
    let store = Arc::new(store);
    let kek = Arc::new(Kek::from_secret(&[4u8; 32]).expect("kek"));
    let first = load_key_ring_at(&*store, &kek, ISS, Algorithm::EdDSA, T)
        .await
        .expect("ring");
    let first_kid = first.keys.active().kid().as_str().to_owned();
    let policy = RingPolicy::signing(
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(600),
        std::time::Duration::from_secs(900),
    );
    for (at, what) in [(T + 3000, "published"), (T + 3600, "active")] {
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, kek) = (store.clone(), kek.clone());
            tasks.push(tokio::spawn(async move {
                let keys = maintain_key_ring_at(&*store, &kek, ISS, Algorithm::EdDSA, &policy, at)
                    .await
                    .expect("maintain")
                    .keys;
                let mut kids: Vec<String> = keys
                    .verifying_keys()
                    .iter()
                    .map(|k| k.kid().as_str().to_owned())
                    .collect();
                kids.sort();
                (keys.active().kid().as_str().to_owned(), kids)
            }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("task"));
        }
        seen.dedup();
        assert_eq!(seen.len(), 1, "{what}: every instance agrees: {seen:?}");
        let (active, kids) = &seen[0];
        assert_eq!(kids.len(), 2, "{what}: the old key and the new one");
        match what {
            "published" => assert_eq!(active, &first_kid, "not signing before its time"),
            _ => assert_ne!(active, &first_kid, "the next key took over"),
        }
    }
}
