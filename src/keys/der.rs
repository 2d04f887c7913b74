//! Just enough DER to tell key types apart and to read RSA public components.
//!
//! ring parses and validates the keys themselves; this reader only finds the algorithm
//! identifier in PKCS#8 / SubjectPublicKeyInfo documents and the (n, e) integers of an RSA
//! public key. It is strict (definite lengths, minimal length encoding) and never panics.

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The key type named by an algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

fn bad() -> Error {
    Error::with(ErrorKind::InvalidKey, "malformed DER key")
}

/// Read one TLV; returns (tag, contents, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let (bytes, r) = rest.split_at(n);
        rest = r;
        if bytes.first() == Some(&0) {
            return Err(bad());
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(bad());
        }
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    let (contents, rest) = rest.split_at(len);
    Ok((tag, contents, rest))
}

fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8])> {
    let (tag, contents, rest) = tlv(input)?;
    if tag != want {
        return Err(bad());
    }
    Ok((contents, rest))
}

/// AlgorithmIdentifier ::= SEQUENCE { OID, parameters ANY OPTIONAL }
fn algorithm_identifier(contents: &[u8]) -> Result<KeyType> {
    let (oid, params) = expect(contents, 0x06)?;
    match oid {
        OID_RSA => Ok(KeyType::Rsa),
        OID_ED25519 => Ok(KeyType::Ed25519),
        OID_EC => {
            let (curve, _) = expect(params, 0x06)?;
            match curve {
                OID_P256 => Ok(KeyType::P256),
                OID_P384 => Ok(KeyType::P384),
                _ => Err(Error::with(ErrorKind::InvalidKey, "unsupported EC curve")),
            }
        }
        _ => Err(Error::with(
            ErrorKind::InvalidKey,
            "unsupported key algorithm",
        )),
    }
}

/// The RFC 8410 §7 PKCS#8 v1 prefix of an Ed25519 private key: SEQUENCE, version 0, the
/// Ed25519 AlgorithmIdentifier, then an OCTET STRING holding the 32-byte seed as an OCTET STRING.
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The same with version 1 and the public key after the seed (RFC 5958 OneAsymmetricKey), the
/// form ring generates.
const ED25519_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 PKCS#8 document in the RFC 8410 v1 form that OpenSSL, pyca/cryptography and
/// WebCrypto all read (ring's v2 output carries the public key, which several of them refuse).
/// Documents in any other shape are returned unchanged.
pub(crate) fn ed25519_pkcs8_v1(der: &[u8]) -> Zeroizing<Vec<u8>> {
    // ring's form: the prefix, the 32-byte seed, then [1] { BIT STRING public key } (83 bytes).
    match der.split_at_checked(ED25519_V2_PREFIX.len()) {
        Some((prefix, rest))
            if prefix == ED25519_V2_PREFIX && rest.get(32..35) == Some(&[0x81, 0x21, 0x00]) =>
        {
            match rest.get(..32) {
                Some(seed) => {
                    let mut v1 = Zeroizing::new(Vec::with_capacity(48));
                    v1.extend_from_slice(&ED25519_V1_PREFIX);
                    v1.extend_from_slice(seed);
                    v1
                }
                None => Zeroizing::new(der.to_vec()),
            }
        }
        _ => Zeroizing::new(der.to_vec()),
    }
}

/// The key type of a PKCS#8 PrivateKeyInfo.
pub(crate) fn pkcs8_key_type(der: &[u8]) -> Result<KeyType> {
    let (seq, _) = expect(der, 0x30)?;
    let (_version, rest) = expect(seq, 0x02)?;
    let (alg, _) = expect(rest, 0x30)?;
    algorithm_identifier(alg)
}

/// Split a SubjectPublicKeyInfo into its key type and the subject public key bytes.
pub(crate) fn spki(der: &[u8]) -> Result<(KeyType, &[u8])> {
    let (seq, trailing) = expect(der, 0x30)?;
    if !trailing.is_empty() {
        return Err(bad());
    }
    let (alg, rest) = expect(seq, 0x30)?;
    let kind = algorithm_identifier(alg)?;
    let (bits, _) = expect(rest, 0x03)?;
    match bits.split_first() {
        Some((0, key)) => Ok((kind, key)),
        _ => Err(bad()),
    }
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } → (n, e).
pub(crate) fn rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8])> {
    let (seq, trailing) = expect(der, 0x30)?;
    if !trailing.is_empty() {
        return Err(bad());
    }
    let (n, rest) = expect(seq, 0x02)?;
    let (e, rest) = expect(rest, 0x02)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok((n, e))
}

/// Wrap a raw key into a SubjectPublicKeyInfo (for PEM export of public keys).
pub(crate) fn encode_spki(kind: KeyType, key: &[u8]) -> Vec<u8> {
    let mut alg = Vec::new();
    match kind {
        KeyType::Rsa => {
            push_tlv(&mut alg, 0x06, OID_RSA);
            alg.extend_from_slice(&[0x05, 0x00]);
        }
        KeyType::P256 | KeyType::P384 => {
            push_tlv(&mut alg, 0x06, OID_EC);
            push_tlv(
                &mut alg,
                0x06,
                if kind == KeyType::P256 {
                    OID_P256
                } else {
                    OID_P384
                },
            );
        }
        KeyType::Ed25519 => push_tlv(&mut alg, 0x06, OID_ED25519),
    }
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = Vec::new();
    push_tlv(&mut body, 0x30, &alg);
    push_tlv(&mut body, 0x03, &bits);
    let mut out = Vec::new();
    push_tlv(&mut out, 0x30, &body);
    out
}

/// DER-encode an RSAPublicKey from big-endian unsigned n and e.
pub(crate) fn encode_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let mut i = Vec::with_capacity(v.len() + 1);
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            i.push(0);
        }
        i.extend_from_slice(v);
        i
    };
    let mut body = Vec::new();
    push_tlv(&mut body, 0x02, &int(n));
    push_tlv(&mut body, 0x02, &int(e));
    let mut out = Vec::new();
    push_tlv(&mut out, 0x30, &body);
    out
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    }
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_round_trip() {
        let key = [4u8; 65];
        let der = encode_spki(KeyType::P256, &key);
        assert_eq!(spki(&der).expect("parse"), (KeyType::P256, &key[..]));
        let rsa = encode_rsa_public_key(&[0xc0; 256], &[1, 0, 1]);
        let der = encode_spki(KeyType::Rsa, &rsa);
        let (kind, inner) = spki(&der).expect("parse");
        assert_eq!(kind, KeyType::Rsa);
        let (n, e) = rsa_public_key(inner).expect("rsa");
        assert_eq!((n.len(), e), (257, &[1u8, 0, 1][..]));
    }

    #[test]
    fn truncations_never_panic() {
        let der = encode_spki(KeyType::Ed25519, &[9u8; 32]);
        for i in 0..der.len() {
            assert!(spki(&der[..i]).is_err());
            assert!(pkcs8_key_type(&der[..i]).is_err());
            assert!(rsa_public_key(&der[..i]).is_err());
        }
    }
}
