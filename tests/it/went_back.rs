//! A revocation log that goes back — a database restored from a backup, a Redis restarted
//! from an older snapshot (what a promoted replica that missed the last writes looks like) —
//! keeps its epoch and hands out its versions again. Verifiers that were ahead must notice and
//! resync, and nothing they learnt is forgotten: each store is restored for real below.

use std::sync::Arc;

use tidepass::revocation::{Applied, Entry, RevocationList, Syncer, Target};
use tidepass::store::SessionStore;

const NOW: u64 = 1_000;

fn token(id: u128) -> Entry {
    Entry {
        target: Target::Token,
        id,
        before: 0,
        expires: 4_000_000_000,
    }
}

async fn append<S: SessionStore>(store: &S, ids: &[u128]) {
    for &id in ids {
        store
            .append_revocations(&[token(id)])
            .await
            .expect("append");
    }
}

async fn sync<S: SessionStore>(syncer: &Syncer, store: &S) -> Applied {
    syncer
        .sync_once(NOW, |since| async move {
            store.revocation_changes(since, NOW).await?.encode()
        })
        .await
        .expect("sync")
}

fn revoked(list: &RevocationList, ids: impl IntoIterator<Item = u128>) -> Vec<u128> {
    ids.into_iter()
        .filter(|&id| !list.is_revoked(id, None, 0, 0, NOW))
        .collect()
}

/// The story on one store. `backup` takes a copy of the store and `restore` brings it back
/// (either may replace the store: a restored file is a new handle). With `ask_between`, the
/// verifier polls while the restored log is still behind it; without, only after the log has
/// grown past the verifier's version again (what fingerprints exist for).
pub(crate) async fn story<S, B, R, BF, RF>(store: S, backup: B, restore: R, ask_between: bool)
where
    S: SessionStore,
    B: FnOnce(S) -> BF,
    BF: std::future::Future<Output = S>,
    R: FnOnce(S) -> RF,
    RF: std::future::Future<Output = S>,
{
    let list = Arc::new(RevocationList::new());
    let syncer = Syncer::new(list.clone());
    append(&store, &[1, 2]).await;
    assert!(matches!(sync(&syncer, &store).await, Applied::Advanced(2)));
    let store = backup(store).await;
    append(&store, &[3, 4]).await;
    sync(&syncer, &store).await;
    assert_eq!((list.version(), revoked(&list, 1..=4)), (4, vec![]));

    let store = restore(store).await;
    if ask_between {
        // The log is at 2 again: a snapshot below the list's version is a log that went back.
        assert_eq!(sync(&syncer, &store).await, Applied::Resynced(2));
        append(&store, &[5, 6, 7]).await;
        assert!(matches!(sync(&syncer, &store).await, Applied::Advanced(5)));
    } else {
        // Versions 3..5 again, with other entries: the delta from 4 starts from a history
        // the list does not have, so the syncer resyncs from a snapshot.
        append(&store, &[5, 6, 7]).await;
        assert_eq!(sync(&syncer, &store).await, Applied::Resynced(5));
    }
    assert_eq!(
        revoked(&list, 1..=7),
        Vec::<u128>::new(),
        "every revocation seen or appended since is in force (3 and 4 were lost by the log, \
         not by the verifier)"
    );
    assert_eq!(list.version(), 5);
    // And it follows the restored log from here, by deltas.
    append(&store, &[8]).await;
    assert!(matches!(sync(&syncer, &store).await, Applied::Advanced(6)));
    assert!(list.is_revoked(8, None, 0, 0, NOW));
}

#[cfg(feature = "redb")]
#[tokio::test]
async fn a_restored_redb_file_is_noticed() {
    use tidepass::store::RedbStore;
    for ask_between in [false, true] {
        let path = crate::stores::redb::temp_path("went-back");
        let copy = path.with_extension("backup");
        let (p1, c1, p2, c2) = (path.clone(), copy.clone(), path.clone(), copy.clone());
        story(
            RedbStore::open(&path).expect("open"),
            |s| async move {
                drop(s);
                std::fs::copy(&p1, &c1).expect("backup");
                RedbStore::open(&p1).expect("reopen")
            },
            |s| async move {
                drop(s);
                std::fs::copy(&c2, &p2).expect("restore");
                RedbStore::open(&p2).expect("reopen")
            },
            ask_between,
        )
        .await;
    }
}

/// Redis restarted from the RDB file saved before the last appends.
#[cfg(all(feature = "redis", unix))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_from_an_older_snapshot_is_noticed() {
    use std::time::Duration;
    use tidepass::store::RedisStore;

    for ask_between in [false, true] {
        let Some(server) = crate::stores::private_redis::Server::start(&["--appendonly", "no"])
        else {
            return;
        };
        let server = Arc::new(std::sync::Mutex::new(server));
        let (url, dir) = {
            let s = server.lock().expect("lock");
            (s.url(), s.dir.clone())
        };
        let connect = || async {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                match RedisStore::connect(&url, "tp", Duration::from_millis(500)).await {
                    Ok(s) => break s,
                    Err(e) if std::time::Instant::now() > deadline => panic!("connect: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        };
        let store = connect().await;
        let backup = |s: RedisStore| {
            let (url, dir) = (url.clone(), dir.clone());
            async move {
                let client = redis::Client::open(url).expect("client");
                let mut con = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("con");
                redis::cmd("SAVE")
                    .query_async::<()>(&mut con)
                    .await
                    .expect("SAVE");
                std::fs::copy(dir.join("dump.rdb"), dir.join("backup.rdb")).expect("backup");
                s
            }
        };
        let restore = |s: RedisStore| {
            let (server, dir) = (server.clone(), dir.clone());
            async move {
                drop(s);
                {
                    let mut server = server.lock().expect("lock");
                    server.kill(); // SIGKILL: nothing newer is saved
                    std::fs::copy(dir.join("backup.rdb"), dir.join("dump.rdb")).expect("restore");
                    server.spawn().expect("restart from the older snapshot");
                }
                connect().await
            }
        };
        story(store, backup, restore, ask_between).await;
    }
}

/// PostgreSQL with the revocation tables restored to their state at the backup.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_postgres_log_is_noticed() {
    for ask_between in [false, true] {
        let Some((store, schema)) = crate::stores::postgres_store::store_in_schema().await else {
            return;
        };
        let client = crate::stores::postgres_store::admin().await;
        let client = Arc::new(client);
        let c1 = client.clone();
        let s1 = schema.clone();
        story(
            store,
            |s| async move {
                c1.batch_execute(&format!(
                    "CREATE TABLE {s1}.backup_log AS TABLE {s1}.tidepass_revocations;
                     CREATE TABLE {s1}.backup_meta AS TABLE {s1}.tidepass_revocation_meta;"
                ))
                .await
                .expect("backup");
                s
            },
            |s| async move {
                client
                    .batch_execute(&format!(
                        "BEGIN;
                         DELETE FROM {schema}.tidepass_revocations;
                         INSERT INTO {schema}.tidepass_revocations SELECT * FROM {schema}.backup_log;
                         DELETE FROM {schema}.tidepass_revocation_meta;
                         INSERT INTO {schema}.tidepass_revocation_meta SELECT * FROM {schema}.backup_meta;
                         COMMIT;"
                    ))
                    .await
                    .expect("restore");
                s
            },
            ask_between,
        )
        .await;
    }
}

/// After a restore, a session logged out since the backup is active again in the store: the
/// operator puts it back with `tidepass log relist` and a feed saved before the restore (here
/// through the CLI, on a redb file restored for real), and its refresh token stops working.
#[cfg(all(feature = "redb", feature = "cli"))]
#[tokio::test]
async fn relist_puts_back_what_a_restore_lost() {
    use std::process::Command;
    use tidepass::keys::{Algorithm, SigningKey};
    use tidepass::store::RedbStore;
    use tidepass::{ErrorKind, Issuer, Login, Minter};

    let path = crate::stores::redb::temp_path("relist");
    let dir = path.parent().expect("dir").to_path_buf();
    let pem = SigningKey::generate(Algorithm::EdDSA)
        .expect("key")
        .export_private()
        .expect("pem");
    let issuer_on = |store| {
        let key = SigningKey::from_pem(pem.as_bytes(), None).expect("key");
        let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
        let secrets =
            tidepass::session::refresh::RefreshSecrets::from_secret(1, &[5u8; 32]).expect("s");
        Issuer::builder(store, minter)
            .refresh_secrets(secrets)
            .build()
            .expect("issuer")
    };
    std::fs::write(
        dir.join("jwks.json"),
        issuer_on(RedbStore::open(&path).expect("open"))
            .minter()
            .keys()
            .verifying_keys()
            .to_jwks()
            .to_string(),
    )
    .expect("jwks");
    let (kept, lost) = {
        let issuer = issuer_on(RedbStore::open(&path).expect("open"));
        (
            issuer.login(Login::new("ann")).await.expect("login"),
            issuer.login(Login::new("bob")).await.expect("login"),
        )
    };
    std::fs::copy(&path, dir.join("backup.redb")).expect("backup");
    {
        let issuer = issuer_on(RedbStore::open(&path).expect("open"));
        assert!(issuer.logout(lost.session_id).await.expect("logout"));
        // What an operator keeps beside the backups: the signed feed, fetched regularly.
        let feed = issuer.signed_revocation_changes(None).await.expect("feed");
        std::fs::write(dir.join("feed.jwt"), feed).expect("save feed");
    }
    std::fs::copy(dir.join("backup.redb"), &path).expect("restore");

    let issuer = issuer_on(RedbStore::open(&path).expect("open"));
    assert!(
        issuer
            .store()
            .load(lost.session_id)
            .await
            .expect("load")
            .expect("there")
            .is_active_at(tidepass::clock::Clock::now(&tidepass::clock::SystemClock)),
        "the restore brought the logged-out session back"
    );
    drop(issuer);

    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tidepass"))
            .args(args)
            .output()
            .expect("run tidepass");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let store_arg = format!("redb:{}", path.display());
    let feed = dir.join("feed.jwt");
    let feed = feed.to_str().expect("utf8 path");
    let jwks = dir.join("jwks.json");
    let jwks = jwks.to_str().expect("utf8 path");

    // A signed feed is never taken unchecked, nor checked against another issuer's keys.
    let (code, _, err) = cli(&["log", "relist", "--store", &store_arg, feed]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--jwks"), "{err}");
    let other = dir.join("other.json");
    std::fs::write(
        &other,
        tidepass::keys::KeySet::new(SigningKey::generate(Algorithm::EdDSA).expect("k"))
            .verifying_keys()
            .to_jwks()
            .to_string(),
    )
    .expect("other jwks");
    let (code, _, err) = cli(&[
        "log",
        "relist",
        "--store",
        &store_arg,
        "--jwks",
        other.to_str().expect("utf8"),
        "--issuer",
        "https://auth.example",
        feed,
    ]);
    assert_eq!(code, Some(1), "{err}");
    // Nor taken without naming whose log it must be, nor as another issuer's log.
    let (code, _, err) = cli(&["log", "relist", "--store", &store_arg, "--jwks", jwks, feed]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--issuer"), "{err}");
    let (code, _, err) = cli(&[
        "log",
        "relist",
        "--store",
        &store_arg,
        "--jwks",
        jwks,
        "--issuer",
        "https://staging.example",
        feed,
    ]);
    assert_eq!(code, Some(1), "{err}");
    let iss = ["--issuer", "https://auth.example"];

    let (code, out, err) = cli(&["feed", "inspect", "--jwks", jwks, iss[0], iss[1], feed]);
    assert_eq!(code, Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(summary["kind"], "snapshot");
    assert_eq!(summary["entries"]["session"], 1);

    let (code, out, err) = cli(&[
        "log", "relist", "--store", &store_arg, "--jwks", jwks, iss[0], iss[1], feed,
    ]);
    assert_eq!(code, Some(0), "{err}");
    let done: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (done["appended"].as_u64(), done["sessions_revoked"].as_u64()),
        (Some(1), Some(1))
    );
    // Idempotent.
    let (_, out, _) = cli(&[
        "log", "relist", "--store", &store_arg, "--jwks", jwks, iss[0], iss[1], feed,
    ]);
    let again: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (
            again["appended"].as_u64(),
            again["sessions_revoked"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let (code, out, err) = cli(&["log", "status", "--store", &store_arg]);
    assert_eq!(code, Some(0), "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["entries"]["session"], 1);

    let issuer = issuer_on(RedbStore::open(&path).expect("open"));
    let refused = issuer
        .refresh(lost.refresh.expose())
        .await
        .expect_err("revoked again");
    assert_eq!(refused.kind(), ErrorKind::SessionRevoked, "{refused}");
    issuer
        .refresh(kept.refresh.expose())
        .await
        .expect("the other session lives on");
}
