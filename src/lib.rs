//! # tidepass
//!
//! Token-based sessions for Rust services: short-lived signed JWT access tokens, verified
//! statelessly by every microservice, with keys that rotate without a gap.
//!
//! ```
//! use tidepass::{Minter, Verifier, keys::{Algorithm, KeySet, SigningKey}};
//!
//! // Auth service: a key, a minter, a published JWKS.
//! let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
//! let jwks = minter.keys().jwks().to_string();
//! let token = minter.token("user-42").scope("read write").mint()?;
//!
//! // Microservice: a verifier from the JWKS, with the issuer and audience it expects.
//! let keys = tidepass::keys::VerifyingKeys::from_jwks(&jwks)?;
//! let verifier = Verifier::new("https://auth.example", "api", keys)?;
//! let claims = verifier.verify_bearer(&format!("Bearer {}", token.as_str()))?;
//! assert_eq!(claims.sub, "user-42");
//! claims.require_scopes(&["read"])?;
//!
//! // A tampered token is refused with a precise, loggable reason.
//! let mut forged = token.into_string();
//! forged.pop();
//! assert!(verifier.verify(&forged).unwrap_err().is_rejected());
//! # Ok::<(), tidepass::Error>(())
//! ```
//!
//! ## The auth service
//!
//! An [`Issuer`] turns a successful login into a session (one per device) and a
//! [`TokenPair`]: a short-lived access token and an opaque refresh token (`tprt_…`). Every
//! refresh rotates the refresh token; the previous one still yields the *identical* child for
//! a few seconds (so honest concurrent refreshes converge, and never revoke anything), and
//! anything older revokes the whole session (a stolen token was replayed). Sessions have an idle timeout and an absolute
//! lifetime ([`Policy::banking`], [`Policy::web`], [`Policy::mobile`]); users can list and
//! revoke their sessions, log out everywhere, and elevation replaces the session id.
//!
//! ```
//! use tidepass::{Issuer, Login, MemoryStore, Minter, keys::{Algorithm, SigningKey}};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tidepass::Error> {
//! let minter = Minter::new(SigningKey::generate(Algorithm::EdDSA)?, "https://auth.example", "api")?;
//! let issuer = Issuer::builder(MemoryStore::new(), minter).ephemeral_refresh_secrets().build()?;
//! let pair = issuer.login(Login::new("user-42").scope("read")).await?;
//! let next = issuer.refresh(pair.refresh.expose()).await?;      // rotates
//! assert_eq!(next.session_id, pair.session_id);
//! issuer.refresh(pair.refresh.expose()).await?;                  // inside the grace window:
//! # Ok(()) }                                                      // the identical child again
//! ```
//!
//! Stores implement [`SessionStore`]: [`MemoryStore`], `store::RedbStore` (feature `redb`,
//! durable across crashes), `store::RedisStore` (feature `redis`) and `store::PgStore` (feature
//! `postgres`). Every security decision emits an [`issuer::events::Event`]. With a store that answers
//! over the network or from disk, a refresh signs its access token while the rotation is in
//! flight, from the claims of the session as last seen (they never change), and keeps that
//! token only if the store confirms the rotation of a session with the same claims
//! ([`IssuerBuilder::overlap_sessions`]).
//!
//! Hold your keys in a [`keys::KeySet`] inside a [`Minter`]. Generate Ed25519 or P-256 keys with
//! [`keys::SigningKey::generate`], or import RSA/EC/Ed25519 keys from PEM or JWK. Publish
//! [`keys::KeySet::jwks`] at `/.well-known/jwks.json`: it holds public halves only, never an
//! HMAC secret. Rotate with [`Minter::rotate_at`]: the old key keeps verifying for one token
//! lifetime plus leeway, and [`Minter::prune_at`] drops it afterwards. Access tokens follow
//! RFC 9068 (`typ: at+jwt`, `kid`, `iss`, `sub`, `aud`, `exp`, `iat`, `jti` as UUID v7, `sid`,
//! `scope`, `client_id`, `auth_time`) and carry typed custom claims ([`Mint::claims`]).
//!
//! ## The microservice
//!
//! Build a [`Verifier`] from the issuer's JWKS ([`keys::VerifyingKeys::from_jwks`]) with the
//! issuer and audience it must expect — it cannot be built without them. Verify the
//! `Authorization` header with [`Verifier::verify_bearer`], check scopes with
//! [`Verified::require_scopes`], and turn any error into an RFC 6750 response with
//! [`http::Rejection::from_error`]. Swap keys with [`Verifier::set_keys`] while requests are in
//! flight: the verify path takes no lock.
//!
//! A logout must reach stateless verifiers before the access token expires: give the
//! verifier a [`revocation::RevocationList`] ([`VerifierBuilder::revocations`]) and keep it in
//! step with a [`revocation::Syncer`] polling the issuer's
//! [`Issuer::revocation_changes`] (compact binary deltas, snapshots when a verifier falls too
//! far behind). A revoked token fails with [`ErrorKind::Revoked`] within one poll interval.
//!
//! Two revocation mechanisms reach verifiers; a deployment may use either or both:
//!
//! | | native feed ([`revocation`]) | Token Status List (feature `status-list`) |
//! |---|---|---|
//! | read by | tidepass verifiers | any JOSE library plus a status-list library, in any language; tidepass's too |
//! | says | sessions, single tokens (`jti`), subject watermarks | sessions only: one entry per session, INVALID once it ends |
//! | delay | one poll (1 s by default), milliseconds with Redis push | the list's `ttl` plus the issuer's rebuild interval (60 s + 2 s by default) |
//! | cut off | fails closed after `max_staleness` (5 min) | fails closed once the held list was issued longer ago than `max_staleness` (5 min) or passed its `exp` (1 h), and for a list not fetched yet |
//! | issuer | [`Issuer::revocation_changes`], `GET /revocations` | [`IssuerBuilder::status_lists`], `GET /statuslists/k` |
//! | verifier | [`VerifierBuilder::revocations`], `Follower` (default) | [`VerifierBuilder::status_lists`], `FollowerBuilder::status_lists` |
//!
//! A Token Status List cannot revoke one access token by `jti` ([`Issuer::revoke_access_token`])
//! nor "every token of a subject issued before T"
//! ([`Issuer::revoke_subject_tokens_before`]): both stay on the native feed only. Sessions
//! opened before their issuer published lists carry no `status` for their whole life and pass
//! a status-list check: keep the native feed on beside the lists until the longest session
//! opened before has ended. A verifier's `max_staleness` must stay above the lists' `ttl` plus
//! the rebuild interval (the defaults do: 5 min against 62 s).
//!
//! DPoP (RFC 9449): a token with `cnf.jkt` is accepted only under `Authorization: DPoP` with a
//! proof by its key ([`Verifier::verify_dpop_at`], [`Verifier::verify_request`], or
//! `http::verify_http`, which the axum extractor, the middleware and the tower layer use);
//! presented as a bearer token it is refused ([`ErrorKind::DpopBoundToken`]). The proof
//! checker ([`verify::dpop::ProofChecker`]) keeps a bounded replay cache of `jti`s per
//! verifier and can demand server nonces.
//!
//! ## The client
//!
//! Devices hold tokens they cannot read into: treat the access token as opaque. With feature
//! `client`, `client::Keeper` holds the pair, refreshes ahead of expiry (with jitter), shares
//! one refresh among concurrent callers, retries a refresh whose answer was lost (exponential
//! backoff with jitter; the server hands the identical new pair to a retry), and turns a dead
//! session into `ClientError::LoginRequired`. It saves every rotated refresh token through a
//! `client::Storage` (the platform keychain, or `client::FileStorage`) before it hands out the
//! new access token, and `Keeper::restore` picks the session up after a restart. With a
//! `client::DpopKey` (ES256 or EdDSA, on the crypto backend) the login binds the session to the key: the
//! keeper signs a proof for every refresh and for resource requests
//! (`Keeper::resource_headers`), retries once on `use_dpop_nonce`, and takes the server's
//! `Date` when a proof is refused for a device clock that is off.
//!
//! ## Layout
//!
//! The modules are the architecture, each depending only on those listed before it:
//! [`keys`] (key material; knows nothing of JWS), [`token`] (the access-token format both
//! sides share: JWS, claims, minting), [`verify`] (the microservice), [`session`] (the auth
//! service's records and the rotation rule), [`revocation`], [`store`] (the backends),
//! [`issuer`] (the auth service), [`http`] (framework glue) and `client` (the device).
//!
//! ## Design
//!
//! - **The key decides the algorithm.** The verifier finds the key by `kid` and requires the
//!   header's `alg` to equal the key's; `none`, unknown `crit`, embedded `jwk`/`jku`/`x5u`/`x5c`
//!   and JWE are refused, each with its own [`ErrorKind`].
//! - **One crypto library.** ring does all signing, verifying, hashing and randomness; with the
//!   `aws-lc-rs` feature, aws-lc-rs does all of it instead ([`keys::BACKEND`] names the one in
//!   the build). The [`keys::provider`] module puts jsonwebtoken on the same backend, when the
//!   application installs it (tidepass never installs a process-global provider as a side
//!   effect).
//! - **Prepared keys, single parse.** Keys are parsed once; each token part is decoded at most
//!   once, into a stack buffer sized to it. The header tidepass itself writes for a key is
//!   recognised byte for byte and not parsed at all, and the claims layout the minter writes is
//!   read by a small exact parser that hands anything else to serde_json.
//! - **Time is injected.** Every time rule has an `_at(now)` form; a [`clock::Clock`] serves the
//!   others.
//!
//! ## Threat model
//!
//! An attacker may send any bytes as a token or header, replay tokens, hold tokens for other
//! audiences, publish keys of their own, and steal a refresh token from a device. They cannot
//! read the issuer's private keys or refresh secrets. A stolen refresh token works until its
//! owner (or the thief) refreshes twice; then the next use of an old token revokes the whole
//! session. Refresh tokens are authenticated before any store access, and no store holds a
//! secret: a leaked session table lets nobody mint tokens. Every parser has a size limit,
//! returns a typed error and never panics (fuzzed; slicing and indexing in library code is
//! checked, and clippy's `indexing_slicing` and `string_slice` lints keep it so). Secrets
//! never appear in `Debug` output or error messages.
//!
//! What is guaranteed, and tested:
//!
//! - **Honest concurrency never logs anyone out.** Presenting the immediate parent inside the
//!   grace window always yields the identical child (at least 32 concurrent refreshes of one
//!   token, in every preset and on every store) or, past the replay cap, a refusal that keeps
//!   the session ([`ErrorKind::GraceReplayLimit`], answered 429); only an older generation,
//!   or the parent outside the window, is reuse. A browser's refresh cookie is one jar that
//!   concurrent requests share, so some carry the parent and others the child an earlier
//!   answer already stored: for those ([`Refresh::shared_jar`](issuer::Refresh::shared_jar), which the token
//!   endpoint uses for cookie refreshes) the child presented inside its own window is handed
//!   out again instead of rotating ([`Policy::settle_within_grace`]), so the late parent never
//!   becomes a grandparent; checked with chromium (five parallel refreshes from one page) and
//!   in the conformance suite. What this gives up: such a session rotates at most once per
//!   grace window, so a thief holding the current cookie value inside that window gets the
//!   same child as its owner rather than a new one; the two still diverge at the next
//!   rotation, and the older token is reuse then, as before.
//! - **A removed key is removed.** After [`Verifier::set_keys`] returns, no token is answered
//!   from the verified-token cache unless it verified under the new key set, whatever the
//!   interleaving. A token may claim to live at most a day by default
//!   ([`VerifierBuilder::max_token_lifetime`]); `exp`, `nbf` and `iat` are NumericDates
//!   (fractions accepted and rounded to the stricter side; negative or beyond 2⁶³ − 1 refused).
//! - **Revocation reaches every token of what was revoked.** An access token never outlives its
//!   session (`exp` is capped at the session's end); revoking a session lists it for as long
//!   as any of its tokens can be alive ([`Minter::max_ttl`], per-token lifetimes included),
//!   also when it has just ended, and also on a retry after a failed log append (reuse,
//!   revoke-all, elevation): logout, revoke-one and elevation list a session *before* they
//!   revoke it, and the issuer's periodic cleanup keeps an ended session in the store until
//!   every token it can have minted is dead, so a retry always finds what to list (on Redis,
//!   ended sessions expire 24 hours after their end, which covers access tokens of up to
//!   about 23 hours). A reuse or
//!   a risk denial detected at [`http::server::AuthServer`]'s token endpoint is applied to
//!   that server's own verifier at once (its account endpoints and introspection refuse the
//!   revoked session's tokens from the next request); "tokens issued before T" covers the whole second of T; token ids,
//!   session ids and subjects are separate id spaces; on Redis, a subject's index lives as long
//!   as its longest session.
//! - **Strict at the edges.** A token is exactly its compact serialization (no surrounding
//!   whitespace); `Authorization: Bearer` takes `1*SP`; a kid-less token is accepted only when
//!   the key set has exactly one key of the header's algorithm; a JWKS that carries private key
//!   material is refused; the minter refuses ([`ErrorKind::MintTooLarge`]) a token a default
//!   verifier would refuse; numbers from the network (`expires_in`) are clamped.
//! - **A cut-off verifier does not silently accept revoked tokens.** A verifier with a
//!   revocation list fails closed ([`ErrorKind::RevocationsStale`], answer 503) once the list
//!   has not synced for `max_staleness` (five minutes by default), or before its first sync;
//!   fail-open is an explicit choice ([`verify::WhenStale`]). With the signed feed
//!   ([`revocation::Changes::sign`], [`revocation::Syncer::sync_signed_once`]) a forged,
//!   tampered or replayed feed is refused, and a replay cannot make a cut-off list look fresh.
//!   A feed names the issuer whose log it is and is applied only by verifiers of that issuer:
//!   with two logs under one signing key (two tenants, staging and production), the other
//!   log's genuine feed is refused ([`ErrorKind::InvalidIssuer`]) and is not a sync.
//! - **A store that went back does not log anyone out.** A failover to a replica that had not
//!   received the last rotations, or a restored backup, leaves a session at generation `n`
//!   while its client holds `g > n`. The token's tag proves the issuer minted `g` (only the
//!   refresh secret makes a valid tag, and the store never holds it), and the issuer mints
//!   generation `g` only after the store acknowledged the rotation to it: so `g` is the newest
//!   token of the chain, not a forgery. The session rotates from `g` to `g + 1`
//!   ([`issuer::events::Event::LostRotations`], metric `tidepass_store_lost_rotations_total`) and everything
//!   older than `g` is reuse again. What this gives up: a thief who copied a token minted in
//!   the lost stretch (generations `n + 1 … g − 1`) and presents it before the owner's next
//!   refresh is served once without a reuse alarm, exactly as if it were presented before the
//!   owner's refresh; the owner's next refresh then catches the chain up and the thief's child
//!   is reuse. Refusing instead would log out every honest client whose rotation was lost,
//!   and would protect nothing against an attacker with the refresh secret (who can mint the
//!   current generation as easily). [`Policy::recover_lost_rotations`] = `false` restores the
//!   refusal. A *login* the store lost cannot be recovered (the session's data is gone); with
//!   `RedisStore`'s replica acknowledgement (RELIABILITY.md) nothing acknowledged is lost.
//! - **A stolen DPoP-bound token is useless without the device's key.** A session opened by
//!   a login that carried a DPoP proof ([`Login::dpop`]) is bound to the key's RFC 7638
//!   thumbprint; its access tokens carry `cnf.jkt`, and every refresh needs a proof by that
//!   key ([`Refresh::dpop`](issuer::Refresh::dpop)). A refresh without one, whatever generation it presents,
//!   is refused *before* any other rule (the risk policy included) and changes nothing: a
//!   thief holding a copied refresh token can neither rotate it nor trigger the reuse alarm
//!   or a denying risk policy that would log the owner out. The same holds at every door of
//!   [`http::server::AuthServer`]: the token endpoint by body or by cookie; `POST /revoke`,
//!   where a bound session's refresh token ends the session only with its key's proof (400
//!   `invalid_dpop_proof` otherwise), and any refresh token older than its session's current
//!   generation and the one before is an invalid token that changes nothing (RFC 7009 §2.2);
//!   elevation, which needs the bound key ([`Issuer::elevate_with`]) and whose new session
//!   keeps the old one's binding; and the account endpoints, which check the `DPoP` scheme as
//!   the builder configured (algorithms, window, nonces). `/revoke` and `/introspect`
//!   understand bound access tokens (introspection answers `cnf.jkt`, RFC 9449 §6.2); a bound
//!   access token may be revoked by whoever holds it, which ends that one short-lived token
//!   and never its session. By design, the user's other sessions may end a bound session
//!   without its key (`DELETE /sessions/{id}`, revoke-others: "sign out that device"). A
//!   proof is checked, and its `jti` recorded, only after the refresh token it comes with is
//!   authentic (and at `/revoke`, only for a bound session's recent token); resource
//!   requests' proofs have a replay cache of their own, so flooding one door cannot fill the
//!   other's.
//!   Proofs are checked as RFC 9449 §4.3 says (typ, an asymmetric algorithm, a public `jwk`,
//!   the signature, `htm`/`htu` against the request, `iat` within 60 s back and 5 s ahead,
//!   a `jti` never seen by that checker, `ath`, the nonce when demanded); the attack list is
//!   tested. The replay cache's shards are picked by a hash keyed with a per-checker secret,
//!   so no client can aim its proofs at one shard and fill it for everyone; RSA proof keys
//!   over 4096 bits are refused before they are imported, so no anonymous client makes the
//!   server verify 8192-bit signatures.
//! - **The guards count what they claim to.** Failed logins and refreshes are limited per
//!   client address: behind a trusted proxy every `X-Forwarded-For` field line counts, in
//!   order, and the right-most hop that is not a trusted proxy is the client; a proxy given
//!   as IPv4 is recognised in its IPv4-mapped IPv6 form. A full failure limiter sweeps its
//!   table once per quarter table of failures (O(1) amortized per failure). Introspection's
//!   client authentication compares every client's id and secret in constant time, with no
//!   short circuit.
//! - **A device killed mid-refresh keeps its session.** The keeper saves each rotated token
//!   before handing out the new access token, so after a crash it holds either the token it
//!   presented or its child. Presenting the parent gets the identical child: inside the grace
//!   window for a bearer session, and *at any later time* for a DPoP-bound one, as long as the
//!   child has never been used (ARCHITECTURE.md's rotation table). The argument: only the key's holder can
//!   present the parent (the binding is checked first), and "the parent is presented while
//!   the session is at the child" means the child was never used (using it rotates past it;
//!   bound sessions never settle), so no second chain exists and handing the child out again
//!   gives nobody anything new. Bound sessions are exempt from the replay cap for the same
//!   reason. Tested by killing a real client process with SIGKILL at four instants of a
//!   refresh and restarting it past the grace window. What it does not cover: a bearer
//!   session restarted after the window is reuse, as before; a thief who also copied the
//!   device's private key is the device.
//! - **Several instances, one key ring.** An issuer's signing keys and refresh secrets can live
//!   in its store ([`store::key_ring`]), sealed with AES-256-GCM under an operator KEK with an
//!   id; each sealed blob is bound to its issuer, purpose and id, so a blob moved elsewhere
//!   does not open; the store never holds them in plaintext. Instances racing to create or
//!   rotate the ring make one key (compare-and-set, on every backend); a wrong KEK, or one
//!   of another id, is an error that names both ids, never a fresh key. A rotation publishes
//!   the next key `publish_ahead` before it signs and keeps the old one `keep_retired` after
//!   ([`keys::RingPolicy`]). An issuer is never built on a secret made up per process unless
//!   the code says so ([`IssuerBuilder::ephemeral_refresh_secrets`]).
//! - **Cancellation-safe.** The JWKS sync's in-flight flag is held by a drop guard: a
//!   refresh future dropped mid-fetch no longer blocks later unknown-kid refreshes (tested by
//!   dropping one).
//!
//! ## Features
//!
//! None by default: the library alone, on ring.
//!
//! - `redb`, `redis`, `postgres`: the session stores (`store::RedbStore`, `store::RedisStore`
//!   with `store::follow_revocations` for pushed revocations, `store::PgStore`).
//! - `redis-tls`, `postgres-tls`: TLS to the stores (rustls on ring, certificates verified).
//! - `redis-sentinel`: `RedisStore::connect_sentinel` and `store::SentinelConnection`, which
//!   follows the primary through failovers.
//! - `server`: the auth service's endpoints on the `http` crate's types, with no framework
//!   (`http::server::AuthServer`: token, login helper, logout and account endpoints, RFC 7009,
//!   RFC 7662, RFC 8414, JWKS, the revocation feed), refresh-token cookies (`http::cookie`).
//! - `axum` (with `server`): the `http::axum::Auth` extractor, the `require_auth` middleware,
//!   the endpoints as an axum `Router` (`http::axum::router`), and RFC 9470 step-up
//!   (`http::axum::require_step_up`).
//! - `follow`: `verify::follow::Follower`, a verifier that follows an issuer by itself over
//!   HTTP (RFC 8414 metadata, the JWKS per `Cache-Control` and on unknown kids, the signed
//!   revocation feed; hyper's client on rustls with ring). The metadata parser
//!   ([`verify::metadata`]) needs no feature.
//! - `tower` (with `server`): `http::layer::AuthLayer`, a tower layer that verifies bearer
//!   tokens in front of hyper, tonic or axum services (RFC 6750 or gRPC status refusals).
//! - `client`: `client::Keeper`, silent refresh for devices, and the OAuth exchanges
//!   (`client::TokenEndpoint`) over any `client::HttpClient`.
//! - `client-http` (with `client`): `client::HyperClient`, a ready HTTP client (hyper on
//!   rustls with ring, the stack `follow` uses).
//! - `guard`: `issuer::guard::FailureLimiter` (the risk policy in [`issuer::guard`] needs no
//!   feature).
//! - `metrics`: counters and histograms through the `metrics` facade
//!   (`issuer::events::MetricsSink`).
//! - `cli`: the `tidepass` command-line tool (keygen, jwks, mint, verify, inspect).
//! - `status-list`: `revocation::status_list`, the IETF Token Status List's format (the list,
//!   its ZLIB encoding, the `status` claim, the signed Status List Token), ZLIB on miniz_oxide.
//!   The issuer does not allocate entries or publish lists yet.
//! - `aws-lc-rs`: tidepass's cryptography on aws-lc-rs instead of ring. One backend per build:
//!   with the feature, no signature, verification, HMAC, hash or random byte of tidepass's goes
//!   through ring (ring stays a compiled dependency, and the TLS features keep rustls on ring).
//!   Public keys are parsed once, at import, into aws-lc's own key objects (ring has no such
//!   type and parses the key inside each verification). Choosing it costs a C build of aws-lc
//!   (`aws-lc-sys`: a C compiler, about a minute on two cores, no CMake for Linux x86_64) and
//!   buys aws-lc's faster EdDSA signing and RSA verification; BENCHMARKS.md has the numbers.
//!   Everything else (keys, tokens, errors, wire formats) is the same on both.
//! - `test-util`: `clock::ManualClock`, [`issuer::events::MemorySink`] and the store
//!   conformance suite (`conformance`).
//!
//! ## Other crates in the public API
//!
//! Types of these crates appear in tidepass's signatures, so their major (before 1.0: minor)
//! versions are part of tidepass's: `http` 1 (the server, the tower layer, the device
//! client), `serde_json` 1 (claims, JWKS documents), `time` 0.3 (`SessionView`'s times),
//! `axum` 0.8 (feature `axum`), `tower-layer` / `tower-service` 0.3 (feature `tower`),
//! `redis` 1 (`RedisStore<C>` over any `redis::aio::ConnectionLike`), `deadpool-postgres`
//! 0.14 (`PgStore::from_pool`), `rustls` 0.23 (`HyperClient::with_tls`, the follower's TLS),
//! `jsonwebtoken` 11 (`keys::provider`). A minor release of tidepass moves with a breaking
//! release of the pre-1.0 ones among them (`time`, `axum`, the tower crates,
//! `deadpool-postgres`, `rustls`), and the CHANGELOG says so.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Attacker-controlled input must never index or slice its way into a panic: every index and
// slice in library code is checked (`get`, `split_at_checked`, iterators), or carries a
// reasoned `allow` where its bound is proven right there. Tests index freely.
#![warn(clippy::indexing_slicing, clippy::string_slice)]
#![cfg_attr(test, allow(clippy::indexing_slicing, clippy::string_slice))]

pub mod clock;

#[cfg(feature = "aws-lc-rs")]
pub(crate) use ::aws_lc_rs as backend;
/// The cryptography backend: ring by default, aws-lc-rs with the `aws-lc-rs` feature. Both
/// offer the same `digest`, `hmac`, `rand` and `signature` modules; where they differ,
/// `keys::crypto` holds the one place that knows.
#[cfg(not(feature = "aws-lc-rs"))]
pub(crate) use ::ring as backend;
#[cfg(feature = "test-util")]
pub mod conformance;
pub mod dangerous;
mod error;
pub mod keys;
pub mod token;

pub mod verify;

pub mod issuer;
pub mod session;

pub mod revocation;
pub mod store;

#[cfg(feature = "client")]
pub mod client;
pub mod http;
#[cfg(any(feature = "follow", feature = "client-http"))]
mod net;

/// Internal parsers, reachable only from the fuzz targets (cargo-fuzz builds with
/// `--cfg fuzzing`); not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzzing {
    /// The base64url (no padding) decoder the JWS and refresh-token parsers use.
    pub fn b64_decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
        crate::token::b64::decode(input, out)
    }

    /// The base64url (no padding) encoder the minter uses, appending to `out`.
    pub fn b64_encode(input: &[u8], out: &mut Vec<u8>) {
        crate::token::b64::encode_append(input, out)
    }

    /// The claims fast path; `None` when it leaves the input to serde_json.
    pub fn claims_fast_path(text: &str) -> Option<crate::AccessClaims<serde_json::Value>> {
        crate::token::claims::parse_simple(text)
    }
}

pub use error::{Error, ErrorKind, Result};
pub use issuer::{Issuer, IssuerBuilder, Login, SessionView, TokenPair};
pub use session::{ClientContext, Policy, SessionId};
pub use store::{MemoryStore, SessionStore};
pub use token::claims::{AccessClaims, Audience, NoExtra, TokenStatus};
pub use token::mint::{AccessToken, Mint, Minter};
pub use verify::{Verified, Verifier, VerifierBuilder};
