//! Login and refresh through the Issuer on the memory and redb stores, beside their floors:
//! the crypto alone (one EdDSA access-token signature + one HMAC-SHA256) and, for redb, one
//! bare commit of a session-sized record.
//!
//! `cargo bench --bench refresh --features redb` (`-- 'memory/refresh'` for the memory store
//! directly and as `AnyStore`, the run-time choice)

#![allow(missing_docs)] // criterion_group! generates undocumented public items

use std::cell::RefCell;

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tidepass::keys::{Algorithm, SigningKey};
use tidepass::store::SessionStore;
use tidepass::{Issuer, Login, MemoryStore, Minter, Policy};

fn issuer<S: SessionStore>(store: S) -> Issuer<S> {
    let minter = Minter::new(
        SigningKey::generate(Algorithm::EdDSA).expect("key"),
        "https://auth.example",
        "api",
    )
    .expect("minter");
    Issuer::builder(store, minter)
        .ephemeral_refresh_secrets()
        .policy(Policy::mobile())
        .build()
        .expect("issuer")
}

fn bench_store<S: SessionStore>(
    c: &mut Criterion,
    name: &str,
    store: S,
    rt: &tokio::runtime::Runtime,
) {
    let issuer = issuer(store);
    let login = || Login::new("user-42").scope("read write");
    let mut g = c.benchmark_group(format!("session/{name}"));
    g.bench_function("login", |b| {
        b.iter(|| rt.block_on(issuer.login(login())).expect("login"))
    });
    let current = RefCell::new(rt.block_on(issuer.login(login())).expect("login").refresh);
    g.bench_function("refresh", |b| {
        b.iter(|| {
            let next = rt
                .block_on(issuer.refresh(current.borrow().expose()).into_future())
                .expect("refresh");
            *current.borrow_mut() = black_box(next.refresh);
        })
    });
    g.finish();
}

fn floor(c: &mut Criterion) {
    // The same crypto a refresh does: one Ed25519 signature over an access token's signing
    // input, one HMAC-SHA256 over a refresh token's tag input (the check; the child's tag is a
    // second HMAC, so count two).
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("gen");
    let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[7u8; 32]);
    let input = vec![b'x'; 330];
    let tag_input = [1u8; 49];
    let mut g = c.benchmark_group("session/floor");
    g.bench_function("crypto_alone", |b| {
        b.iter(|| {
            let s = key.sign(black_box(&input));
            let t1 = ring::hmac::sign(&hmac, black_box(&tag_input));
            let t2 = ring::hmac::sign(&hmac, black_box(&tag_input));
            (s, t1, t2)
        })
    });
    g.finish();
}

#[cfg(feature = "redb")]
fn redb_commit(c: &mut Criterion, dir: &std::path::Path) {
    use redb::{Database, TableDefinition};
    const T: TableDefinition<&[u8], &[u8]> = TableDefinition::new("t");
    let db = Database::create(dir.join("bare.redb")).expect("db");
    let record = vec![b'x'; 420]; // about one session record
    let mut i = 0u64;
    let mut g = c.benchmark_group("session/redb");
    g.bench_function("commit_alone", |b| {
        b.iter(|| {
            i += 1;
            let txn = db.begin_write().expect("txn");
            txn.open_table(T)
                .expect("t")
                .insert(&i.to_be_bytes()[..], &record[..])
                .expect("insert");
            txn.commit().expect("commit");
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("rt");
    floor(c);
    bench_store(c, "memory", MemoryStore::new(), &rt);
    // The same store chosen at run time: what the enum's dispatch costs per refresh.
    let any = tidepass::store::AnyStore::Memory(std::sync::Arc::new(MemoryStore::new()));
    bench_store(c, "any_memory", any, &rt);
    #[cfg(feature = "redb")]
    {
        let dir = std::env::temp_dir().join(format!("tidepass-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        redb_commit(c, &dir);
        let store = tidepass::store::RedbStore::open(dir.join("sessions.redb")).expect("open");
        bench_store(c, "redb", store, &rt);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
