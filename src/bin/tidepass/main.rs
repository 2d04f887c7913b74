//! `tidepass`: keys, JWKS, minting and verification from the command line, and the
//! operator's revocation-feed and log commands.
//!
//! Scriptable: results go to standard output, errors are one line on standard error, the exit
//! status is 0 on success, 1 when an operation fails (a rejected token, a bad key) and 2 on a
//! usage error.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[macro_use]
mod feed;
#[cfg(any(feature = "redb", feature = "redis", feature = "postgres"))]
mod keyring;
use serde_json::{Map, Value};
use tidepass::clock::{Clock, SystemClock};
use tidepass::keys::{Algorithm, SigningKey, VerifyingKey, VerifyingKeys};
use tidepass::{Audience, Minter, Verifier};

#[derive(Parser)]
#[command(
    name = "tidepass",
    version,
    about = "Keys, JWKS, access tokens: mint, verify, inspect"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key: DIR/private.pem (or DIR/secret for HS*) and DIR/jwks.json; prints the kid.
    Keygen {
        /// EdDSA, ES256, ES384, HS256, HS384 or HS512 (RSA keys come from openssl).
        #[arg(long)]
        alg: Algorithm,
        /// Directory to write into (created if missing; existing key files are never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public JWKS of a key file (PEM, JWK, or HMAC secret: an empty set).
    Jwks {
        /// Key file.
        #[arg(long)]
        key: PathBuf,
        /// Algorithm, when the key type alone does not say (RSA: RS256 by default; HMAC).
        #[arg(long)]
        alg: Option<Algorithm>,
    },
    /// Mint an access token and print it.
    Mint {
        /// Private key file (PKCS#8 or PKCS#1 PEM, private JWK, or an HMAC secret file).
        #[arg(long)]
        key: PathBuf,
        /// Algorithm, when the key type alone does not say.
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Issuer (iss).
        #[arg(long)]
        iss: String,
        /// Audience (aud).
        #[arg(long)]
        aud: String,
        /// Subject (sub).
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// Space-separated scopes.
        #[arg(long)]
        scope: Option<String>,
        /// Session id (sid).
        #[arg(long)]
        sid: Option<String>,
        /// A custom claim, NAME=JSON (repeatable); a bare word is taken as a string.
        #[arg(long = "claim", value_name = "NAME=JSON")]
        claims: Vec<String>,
    },
    /// Verify a token; print its claims as JSON, or the rejection reason (exit 1).
    Verify {
        /// The issuer's JWKS document.
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        jwks: Option<PathBuf>,
        /// A single key file (public or private PEM, JWK, or HMAC secret with --alg).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Algorithm for --key, when the key type alone does not say.
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Expected issuer.
        #[arg(long)]
        iss: String,
        /// Expected audience.
        #[arg(long)]
        aud: String,
        /// Verify as of this Unix time instead of now.
        #[arg(long, value_name = "UNIX_SECONDS")]
        at: Option<u64>,
        /// Clock-skew leeway in seconds.
        #[arg(long, default_value_t = 30)]
        leeway: u64,
        /// The token.
        token: String,
    },
    /// Decode a token WITHOUT verifying it.
    Inspect {
        /// The token.
        token: String,
    },
    /// Revocation feeds: inspect one.
    #[command(subcommand)]
    Feed(feed::FeedCommand),
    /// The store's revocation log: status, and putting back what a restore lost.
    #[command(subcommand)]
    Log(feed::LogCommand),
    /// The shared key ring in a store: status, rotate by hand, retire a leaked key, re-seal.
    #[cfg(any(feature = "redb", feature = "redis", feature = "postgres"))]
    #[command(subcommand)]
    Keyring(keyring::KeyringCommand),
}

/// A failure: one line on stderr, exit status 1.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's first line, without its "error: " prefix.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!(
                "tidepass: {} (see --help)",
                first.join(" ").trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("tidepass: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Keygen { alg, out } => keygen(alg, &out),
        Command::Jwks { key, alg } => {
            let keys = VerifyingKeys::from_keys(public_keys(&key, alg)?)?;
            emit(&pretty(&keys.to_jwks()))?;
            Ok(())
        }
        Command::Mint {
            key,
            alg,
            iss,
            aud,
            sub,
            ttl,
            scope,
            sid,
            claims,
        } => {
            let key = load_signing(&key, alg)?;
            let minter = Minter::with_keys(
                tidepass::keys::KeySet::new(key),
                &iss,
                Audience::One(aud.into()),
            )?
            .with_ttl(std::time::Duration::from_secs(ttl));
            let extra = parse_claims(&claims)?;
            let mut mint = minter.token(&sub);
            if let Some(scope) = &scope {
                mint = mint.scope(scope);
            }
            if let Some(sid) = &sid {
                mint = mint.sid(sid);
            }
            emit(mint.claims(Value::Object(extra)).mint()?.as_str())?;
            Ok(())
        }
        Command::Verify {
            jwks,
            key,
            alg,
            iss,
            aud,
            at,
            leeway,
            token,
        } => {
            let keys = match (jwks, key) {
                (Some(path), _) => VerifyingKeys::from_jwks(&read_text(&path)?)?,
                (None, Some(path)) => VerifyingKeys::from_keys(verify_keys(&path, alg)?)?,
                (None, None) => return Err(Failure("give --jwks or --key".into())),
            };
            let verifier = Verifier::builder(&iss, &aud, keys)
                .leeway(std::time::Duration::from_secs(leeway))
                .cache_capacity(0)
                .claims::<Value>()
                .build()?;
            let now = at.unwrap_or_else(|| SystemClock.now());
            match verifier.verify_at(&token, now) {
                Ok(claims) => {
                    emit(&pretty(&serde_json::to_value(&*claims)?))?;
                    Ok(())
                }
                Err(e) => Err(Failure(format!("rejected: {e}"))),
            }
        }
        Command::Feed(c) => feed::feed(c),
        Command::Log(c) => feed::log(c),
        #[cfg(any(feature = "redb", feature = "redis", feature = "postgres"))]
        Command::Keyring(c) => keyring::keyring(c),
        Command::Inspect { token } => {
            let t = tidepass::dangerous::decode_unverified(&token)?;
            eprintln!(
                "WARNING: NOT VERIFIED. This shows what the token claims, not that it is true."
            );
            println!(
                "{}",
                pretty(&serde_json::json!({ "header": t.header, "claims": t.claims }))
            );
            Ok(())
        }
    }
}

/// Print a result line. A closed pipe (`tidepass inspect … | head -1`) is not an error.
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure(format!("stdout: {e}")))
        }
        _ => Ok(()),
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn read_text(path: &Path) -> Result<String, Failure> {
    let meta = fs::metadata(path).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
    if meta.len() > 1 << 20 {
        return Err(Failure(format!("{}: larger than 1 MiB", path.display())));
    }
    fs::read_to_string(path).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

enum KeyFile {
    Pem(String),
    Jwk(Value),
    Secret(String),
}

fn key_file(path: &Path) -> Result<KeyFile, Failure> {
    let text = read_text(path)?;
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        Ok(KeyFile::Pem(text))
    } else if t.starts_with('{') {
        let v: Value = serde_json::from_str(t)
            .map_err(|e| Failure(format!("{}: not a JWK: {e}", path.display())))?;
        Ok(KeyFile::Jwk(v))
    } else {
        Ok(KeyFile::Secret(t.to_owned()))
    }
}

fn secret_bytes(text: &str) -> Result<Vec<u8>, Failure> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Failure("HMAC secret file is not base64url".into()))
}

fn hmac_alg(alg: Option<Algorithm>) -> Result<Algorithm, Failure> {
    match alg {
        Some(a) if a.is_hmac() => Ok(a),
        _ => Err(Failure(
            "an HMAC secret file needs --alg HS256, HS384 or HS512".into(),
        )),
    }
}

fn load_signing(path: &Path, alg: Option<Algorithm>) -> Result<SigningKey, Failure> {
    Ok(match key_file(path)? {
        KeyFile::Pem(pem) => SigningKey::from_pem(pem.as_bytes(), alg)?,
        KeyFile::Jwk(mut jwk) => {
            if let (Some(a), Some(m)) = (alg, jwk.as_object_mut()) {
                m.insert("alg".into(), a.as_str().into());
            }
            SigningKey::from_jwk(&jwk.to_string())?
        }
        KeyFile::Secret(s) => SigningKey::from_hmac_secret(hmac_alg(alg)?, &secret_bytes(&s)?)?,
    })
}

/// Keys able to verify: public halves, or the HMAC secret itself.
fn verify_keys(path: &Path, alg: Option<Algorithm>) -> Result<Vec<VerifyingKey>, Failure> {
    Ok(match key_file(path)? {
        KeyFile::Pem(pem) => vec![VerifyingKey::from_pem(pem.as_bytes(), alg)?],
        KeyFile::Jwk(jwk) if jwk.get("d").is_some() || jwk.get("k").is_some() => {
            vec![load_signing(path, alg)?.verifying_key()]
        }
        KeyFile::Jwk(mut jwk) => {
            if let (Some(a), Some(m)) = (alg, jwk.as_object_mut()) {
                m.insert("alg".into(), a.as_str().into());
            }
            vec![VerifyingKey::from_jwk(&jwk.to_string())?]
        }
        KeyFile::Secret(_) => vec![load_signing(path, alg)?.verifying_key()],
    })
}

/// Keys to publish: never an HMAC secret.
fn public_keys(path: &Path, alg: Option<Algorithm>) -> Result<Vec<VerifyingKey>, Failure> {
    Ok(verify_keys(path, alg)?
        .into_iter()
        .filter(|k| !k.is_secret())
        .collect())
}

fn parse_claims(claims: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut out = Map::new();
    for c in claims {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| Failure(format!("--claim {c:?}: expected NAME=JSON")))?;
        if name.is_empty() {
            return Err(Failure(format!("--claim {c:?}: empty name")));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        if out.insert(name.to_owned(), value).is_some() {
            return Err(Failure(format!("--claim {name}: given twice")));
        }
    }
    Ok(out)
}

fn keygen(alg: Algorithm, out: &Path) -> Result<(), Failure> {
    let key = SigningKey::generate(alg)?;
    fs::create_dir_all(out).map_err(|e| Failure(format!("{}: {e}", out.display())))?;
    let private = key.export_private()?;
    let name = if alg.is_hmac() {
        "secret"
    } else {
        "private.pem"
    };
    write_new(&out.join(name), private.as_bytes(), true)?;
    let jwks = VerifyingKeys::from_keys(key.public_jwk().map(|_| key.verifying_key()))?.to_jwks();
    write_new(
        &out.join("jwks.json"),
        format!("{}\n", pretty(&jwks)).as_bytes(),
        false,
    )?;
    emit(key.kid().as_str())?;
    Ok(())
}

/// Write a file that must not exist yet, completely or not at all (temp file + rename).
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure(format!(
            "{}: already exists; not overwriting a key",
            path.display()
        )));
    }
    let tmp = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Failure(format!("{}: {e}", path.display()))
    })
}
