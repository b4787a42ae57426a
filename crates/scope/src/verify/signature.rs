//! Signatures: the hashes, keys and schemes a signature may use, and
//! verification with aws-lc-rs with the values behind the verdict.

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use md5::Md5;
use num_bigint::BigUint;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use x509_parser::asn1_rs::{FromDer, Integer, Sequence};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use super::*;
use crate::tls::registry;
use crate::tree::{hex, hex_short};

/// A hash a signature may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hash {
    /// TLS 1.0/1.1 RSA: MD5 and SHA-1 concatenated (36 bytes).
    Md5Sha1,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(super) fn name(self) -> &'static str {
        match self {
            Hash::Md5Sha1 => "MD5+SHA-1",
            Hash::Md5 => "MD5",
            Hash::Sha1 => "SHA-1",
            Hash::Sha224 => "SHA-224",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Md5Sha1 => {
                let mut v = Md5::digest(data).to_vec();
                v.extend_from_slice(&Sha1::digest(data));
                v
            }
            Hash::Md5 => Md5::digest(data).to_vec(),
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha224 => Sha224::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// From the hash part of a TLS signature scheme name.
    pub(super) fn from_tls(name: &str) -> Option<Hash> {
        match name {
            "SHA1" => Some(Hash::Sha1),
            "SHA224" => Some(Hash::Sha224),
            "SHA256" => Some(Hash::Sha256),
            "SHA384" => Some(Hash::Sha384),
            "SHA512" => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// From a hash algorithm OID (DigestInfo, RSASSA-PSS parameters).
    pub(super) fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            "1.2.840.113549.2.5" => Some(Hash::Md5),
            "1.3.14.3.2.26" => Some(Hash::Sha1),
            "2.16.840.1.101.3.4.2.4" => Some(Hash::Sha224),
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(Hash),
    Ed25519,
}

impl Scheme {
    pub(super) fn hash(self) -> Option<Hash> {
        match self {
            Scheme::RsaPkcs1(h) | Scheme::RsaPss(h) | Scheme::Ecdsa(h) => Some(h),
            Scheme::Ed25519 => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
}

#[derive(Clone, Debug)]
pub(super) enum KeyType {
    Rsa { n: Vec<u8>, e: Vec<u8>, bits: usize },
    Ec(Option<Curve>),
    Ed25519,
    Other,
}

/// A public key from a certificate.
#[derive(Clone, Debug)]
pub(super) struct Key {
    pub(super) kind: KeyType,
    /// The subjectPublicKey bits: RSAPublicKey DER, an EC point, 32 Ed25519 bytes.
    pub(super) raw: Vec<u8>,
    /// `RSA 2048`, `EC P-256`, `Ed25519`.
    pub(super) desc: String,
}

pub(super) fn key_of(spki: &SubjectPublicKeyInfo<'_>) -> Key {
    let raw = spki.subject_public_key.data.to_vec();
    let alg = spki.algorithm.algorithm.to_id_string();
    let kind = match alg.as_str() {
        // rsaEncryption and id-RSASSA-PSS keys both hold an RSAPublicKey.
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match RSAPublicKey::from_der(&raw) {
            Ok((_, k)) => KeyType::Rsa {
                n: k.modulus.to_vec(),
                e: k.exponent.to_vec(),
                bits: BigUint::from_bytes_be(k.modulus).bits() as usize,
            },
            Err(_) => KeyType::Other,
        },
        "1.2.840.10045.2.1" => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
            KeyType::Ec(match curve.map(|o| o.to_id_string()).as_deref() {
                Some("1.2.840.10045.3.1.7") => Some(Curve::P256),
                Some("1.3.132.0.34") => Some(Curve::P384),
                Some("1.3.132.0.35") => Some(Curve::P521),
                _ => None,
            })
        }
        "1.3.101.112" => KeyType::Ed25519,
        _ => KeyType::Other,
    };
    let desc = match &kind {
        KeyType::Rsa { bits, .. } => format!("RSA {bits}"),
        KeyType::Ec(Some(Curve::P256)) => "EC P-256".into(),
        KeyType::Ec(Some(Curve::P384)) => "EC P-384".into(),
        KeyType::Ec(Some(Curve::P521)) => "EC P-521".into(),
        KeyType::Ec(None) => "EC (unsupported curve)".into(),
        KeyType::Ed25519 => "Ed25519".into(),
        KeyType::Other => format!("{} (unsupported)", oid_name(&alg)),
    };
    Key { kind, raw, desc }
}

pub(super) fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.2.5" => "md5",
        "1.3.14.3.2.26" => "sha1",
        "2.16.840.1.101.3.4.2.4" => "sha224",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        other => return other.to_string(),
    };
    name.to_string()
}

/// The scheme of a certificate's signatureAlgorithm.
pub(super) fn cert_scheme(alg: &AlgorithmIdentifier<'_>) -> Result<(Scheme, String), String> {
    let oid = alg.algorithm.to_id_string();
    let name = oid_name(&oid);
    let scheme = match oid.as_str() {
        "1.2.840.113549.1.1.4" => Scheme::RsaPkcs1(Hash::Md5),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => Scheme::RsaPkcs1(Hash::Sha1),
        "1.2.840.113549.1.1.14" => Scheme::RsaPkcs1(Hash::Sha224),
        "1.2.840.113549.1.1.11" => Scheme::RsaPkcs1(Hash::Sha256),
        "1.2.840.113549.1.1.12" => Scheme::RsaPkcs1(Hash::Sha384),
        "1.2.840.113549.1.1.13" => Scheme::RsaPkcs1(Hash::Sha512),
        "1.2.840.113549.1.1.10" => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or_else(|| "RSASSA-PSS without parameters".to_string())?;
            let params = RsaSsaPssParams::try_from(params)
                .map_err(|e| format!("RSASSA-PSS parameters do not decode: {e}"))?;
            let h = params.hash_algorithm_oid().to_id_string();
            let hash = Hash::from_oid(&h)
                .ok_or_else(|| format!("RSASSA-PSS with hash {}", oid_name(&h)))?;
            let name =
                format!("RSASSA-PSS ({}, MGF1, salt length {})", hash.name(), params.salt_length());
            return Ok((Scheme::RsaPss(hash), name));
        }
        "1.2.840.10045.4.1" => Scheme::Ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.1" => Scheme::Ecdsa(Hash::Sha224),
        "1.2.840.10045.4.3.2" => Scheme::Ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => Scheme::Ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => Scheme::Ecdsa(Hash::Sha512),
        "1.3.101.112" => Scheme::Ed25519,
        _ => return Err(name),
    };
    Ok((scheme, name))
}

/// The scheme of a TLS signature: the SignatureScheme code point (TLS 1.2
/// and 1.3), or, without one (TLS 1.0/1.1), what the key implies: RSA over
/// MD5+SHA-1, ECDSA over SHA-1
/// ([RFC 4346 §7.4.3](https://www.rfc-editor.org/rfc/rfc4346#section-7.4.3),
/// [RFC 4492 §5.4](https://www.rfc-editor.org/rfc/rfc4492#section-5.4)).
pub(super) fn tls_scheme(id: Option<u16>, key: &Key) -> Result<(Scheme, String), String> {
    let Some(id) = id else {
        return match key.kind {
            KeyType::Rsa { .. } => Ok((
                Scheme::RsaPkcs1(Hash::Md5Sha1),
                "RSA PKCS#1 v1.5 over MD5+SHA-1 (TLS 1.0/1.1, no DigestInfo)".into(),
            )),
            KeyType::Ec(_) => {
                Ok((Scheme::Ecdsa(Hash::Sha1), "ECDSA over SHA-1 (TLS 1.0/1.1)".into()))
            }
            _ => Err(format!("a TLS 1.0/1.1 signature with a {} key", key.desc)),
        };
    };
    let name = registry::describe(registry::signature_scheme(id), id, 4);
    let unsupported = || format!("signature scheme {name}");
    let (alg, hash) = registry::signature_scheme_parts(id).ok_or_else(unsupported)?;
    let scheme = match alg {
        "RSA-PKCS1" => Scheme::RsaPkcs1(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "RSA-PSS" => Scheme::RsaPss(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "ECDSA" => Scheme::Ecdsa(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "EdDSA" if registry::signature_scheme(id) == Some("ed25519") => Scheme::Ed25519,
        _ => return Err(unsupported()),
    };
    Ok((scheme, name))
}

/// The aws-lc-rs algorithm for a scheme and key, with its name.
pub(super) fn aws_algorithm(
    scheme: Scheme,
    key: &Key,
) -> Result<(&'static dyn VerificationAlgorithm, &'static str), String> {
    let unsupported =
        || format!("aws-lc-rs has no algorithm for {scheme:?} with a {} key", key.desc);
    match (scheme, &key.kind) {
        (Scheme::RsaPkcs1(h), KeyType::Rsa { bits, .. }) => {
            let small = *bits < 2048;
            Ok(match (h, small) {
                (Hash::Sha1, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha1, false) => (
                    &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha256, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha256, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA256, "RSA_PKCS1_2048_8192_SHA256")
                }
                (Hash::Sha384, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA384, "RSA_PKCS1_2048_8192_SHA384")
                }
                (Hash::Sha512, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha512, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA512, "RSA_PKCS1_2048_8192_SHA512")
                }
                _ => return Err(unsupported()),
            })
        }
        (Scheme::RsaPss(h), KeyType::Rsa { .. }) => Ok(match h {
            Hash::Sha256 => (&sig::RSA_PSS_2048_8192_SHA256, "RSA_PSS_2048_8192_SHA256"),
            Hash::Sha384 => (&sig::RSA_PSS_2048_8192_SHA384, "RSA_PSS_2048_8192_SHA384"),
            Hash::Sha512 => (&sig::RSA_PSS_2048_8192_SHA512, "RSA_PSS_2048_8192_SHA512"),
            _ => return Err(unsupported()),
        }),
        (Scheme::Ecdsa(h), KeyType::Ec(Some(c))) => Ok(match (c, h) {
            (Curve::P256, Hash::Sha1) => (&sig::ECDSA_P256_SHA1_ASN1, "ECDSA_P256_SHA1_ASN1"),
            (Curve::P256, Hash::Sha256) => (&sig::ECDSA_P256_SHA256_ASN1, "ECDSA_P256_SHA256_ASN1"),
            (Curve::P256, Hash::Sha384) => (&sig::ECDSA_P256_SHA384_ASN1, "ECDSA_P256_SHA384_ASN1"),
            (Curve::P256, Hash::Sha512) => (&sig::ECDSA_P256_SHA512_ASN1, "ECDSA_P256_SHA512_ASN1"),
            (Curve::P384, Hash::Sha256) => (&sig::ECDSA_P384_SHA256_ASN1, "ECDSA_P384_SHA256_ASN1"),
            (Curve::P384, Hash::Sha384) => (&sig::ECDSA_P384_SHA384_ASN1, "ECDSA_P384_SHA384_ASN1"),
            (Curve::P384, Hash::Sha512) => (&sig::ECDSA_P384_SHA512_ASN1, "ECDSA_P384_SHA512_ASN1"),
            (Curve::P521, Hash::Sha1) => (&sig::ECDSA_P521_SHA1_ASN1, "ECDSA_P521_SHA1_ASN1"),
            (Curve::P521, Hash::Sha224) => (&sig::ECDSA_P521_SHA224_ASN1, "ECDSA_P521_SHA224_ASN1"),
            (Curve::P521, Hash::Sha256) => (&sig::ECDSA_P521_SHA256_ASN1, "ECDSA_P521_SHA256_ASN1"),
            (Curve::P521, Hash::Sha384) => (&sig::ECDSA_P521_SHA384_ASN1, "ECDSA_P521_SHA384_ASN1"),
            (Curve::P521, Hash::Sha512) => (&sig::ECDSA_P521_SHA512_ASN1, "ECDSA_P521_SHA512_ASN1"),
            _ => return Err(unsupported()),
        }),
        (Scheme::Ed25519, KeyType::Ed25519) => Ok((&sig::ED25519, "ED25519")),
        (Scheme::RsaPkcs1(_) | Scheme::RsaPss(_), _)
        | (Scheme::Ecdsa(_), _)
        | (Scheme::Ed25519, _) => {
            Err(format!("the {scheme:?} signature does not fit the signer's {} key", key.desc))
        }
    }
}

pub(super) type Details = Vec<(&'static str, String, String)>;

/// Verifies `signature` over `data` with `key`, adding what it computed to
/// `d`. `what` names the signed bytes (`tbsCertificate`, `signed data`).
pub(super) fn verify(
    scheme: Scheme,
    key: &Key,
    data: &[u8],
    signature: &[u8],
    what: &str,
    d: &mut Details,
) -> Outcome {
    let hash_a = scheme.hash().map(|h| h.digest(data));
    if let (Some(h), Some(a)) = (scheme.hash(), &hash_a) {
        d.push(("hash_a", format!("hash_a = {}({what})", h.name()), hex(a)));
    }
    match scheme {
        Scheme::RsaPkcs1(h) => rsa_pkcs1_details(h, key, signature, hash_a.as_deref(), d),
        Scheme::RsaPss(_) => {
            if let KeyType::Rsa { n, e, .. } = &key.kind
                && let Ok(em) = rsa_recover(n, e, signature)
            {
                let trailer = em.last().copied().unwrap_or(0);
                d.push((
                    "pss_trailer",
                    "last byte of signature^e mod n".into(),
                    if trailer == 0xbc {
                        "bc (the PSS trailer; the rest is masked: the hash is checked inside the encoding, not read out)".into()
                    } else {
                        format!("{trailer:02x} (the PSS trailer should be bc)")
                    },
                ));
            }
        }
        Scheme::Ecdsa(_) => {
            let rs = Sequence::from_der_and_then(signature, |i| {
                let (i, r) = Integer::from_der(i)?;
                let (i, s) = Integer::from_der(i)?;
                Ok::<_, x509_parser::nom::Err<x509_parser::asn1_rs::Error>>((
                    i,
                    (r.as_ref().to_vec(), s.as_ref().to_vec()),
                ))
            });
            match rs {
                Ok((_, (r, s))) => {
                    d.push(("ecdsa_r", "ECDSA r".into(), hex(strip_zero(&r))));
                    d.push(("ecdsa_s", "ECDSA s".into(), hex(strip_zero(&s))));
                }
                Err(_) => d.push((
                    "ecdsa_signature",
                    "ECDSA signature".into(),
                    format!("not a DER SEQUENCE {{ r, s }}: {}", hex_short(signature, 32)),
                )),
            }
        }
        Scheme::Ed25519 => d.push((
            "eddsa",
            "Ed25519".into(),
            format!("signs the {what} itself ({} bytes; SHA-512 inside the algorithm)", data.len()),
        )),
    }
    if scheme == Scheme::RsaPkcs1(Hash::Md5Sha1) {
        return md5sha1_verdict(key, data, signature, d);
    }
    let (alg, alg_name) = match aws_algorithm(scheme, key) {
        Ok(a) => a,
        Err(e) => return Outcome::NotPossible(e),
    };
    let ok = UnparsedPublicKey::new(alg, &key.raw).verify(data, signature).is_ok();
    d.push((
        "verdict",
        format!("aws-lc-rs {alg_name}"),
        if ok { "valid".into() } else { "invalid".into() },
    ));
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed(match scheme {
            Scheme::RsaPkcs1(_) => {
                "the signature does not verify with the signer's public key (hash_b is not hash_a)"
                    .into()
            }
            _ => "the signature does not verify with the signer's public key".into(),
        })
    }
}

pub(super) fn strip_zero(v: &[u8]) -> &[u8] {
    match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => v,
    }
}

/// hash_b for RSA PKCS#1 v1.5: `signature^e mod n`, its padding, the
/// DigestInfo and the digest in it, compared with hash_a.
pub(super) fn rsa_pkcs1_details(
    h: Hash,
    key: &Key,
    signature: &[u8],
    hash_a: Option<&[u8]>,
    d: &mut Details,
) {
    let KeyType::Rsa { n, e, .. } = &key.kind else { return };
    let em = match rsa_recover(n, e, signature) {
        Ok(em) => em,
        Err(why) => {
            d.push(("hash_b", "hash_b".into(), format!("not recovered: {why}")));
            return;
        }
    };
    d.push(("exponent", "public exponent e".into(), BigUint::from_bytes_be(e).to_string()));
    let (ff, t) = match pkcs1_type1(&em) {
        Ok(x) => x,
        Err(why) => {
            d.push(("padding", "padding of signature^e mod n".into(), format!("wrong: {why}")));
            d.push(("recovered", "signature^e mod n".into(), hex_short(&em, 64)));
            d.push((
                "hashes",
                "hash_a vs hash_b".into(),
                "differ (signature^e mod n is no PKCS#1 v1.5 block: there is no hash_b)".into(),
            ));
            return;
        }
    };
    d.push((
        "padding",
        "padding of signature^e mod n".into(),
        format!("00 01 FF×{ff} 00 (PKCS#1 v1.5 type 1, as it should be)"),
    ));
    let hash_b = if h == Hash::Md5Sha1 {
        t.to_vec()
    } else {
        match digest_info(t) {
            Ok((oid, digest)) => {
                d.push(("digest_info", "DigestInfo".into(), hex(t)));
                let name = oid_name(&oid);
                let note = match Hash::from_oid(&oid) {
                    Some(x) if x == h => String::new(),
                    _ => format!(" (the algorithm says {})", h.name()),
                };
                d.push((
                    "digest_info_alg",
                    "DigestInfo hash algorithm".into(),
                    format!("{name}{note}"),
                ));
                digest
            }
            Err(why) => {
                d.push((
                    "digest_info",
                    "DigestInfo".into(),
                    format!("{why}: {}", hex_short(t, 64)),
                ));
                return;
            }
        }
    };
    let label = if h == Hash::Md5Sha1 {
        "hash_b = the 36 bytes after the padding in signature^e mod n"
    } else {
        "hash_b = digest in the DigestInfo recovered as signature^e mod n"
    };
    d.push(("hash_b", label.into(), hex(&hash_b)));
    if let Some(a) = hash_a {
        d.push((
            "hashes",
            "hash_a vs hash_b".into(),
            if a == hash_b.as_slice() { "equal".into() } else { "differ".into() },
        ));
    }
}

/// TLS 1.0/1.1 RSA: aws-lc-rs has no PKCS#1 v1.5 algorithm without a
/// DigestInfo, so the block is re-encoded and compared (RFC 8017 §8.2.2
/// step 3-4, with the 36-byte MD5+SHA-1 digest as T).
pub(super) fn md5sha1_verdict(
    key: &Key,
    data: &[u8],
    signature: &[u8],
    d: &mut Details,
) -> Outcome {
    let KeyType::Rsa { n, e, .. } = &key.kind else {
        return Outcome::NotPossible("an MD5+SHA-1 signature needs an RSA key".into());
    };
    let em = match rsa_recover(n, e, signature) {
        Ok(em) => em,
        Err(why) => return Outcome::Failed(why),
    };
    let k = em.len();
    if signature.len() != k {
        return Outcome::Failed(format!(
            "the signature is {} bytes, the modulus {k}",
            signature.len()
        ));
    }
    let digest = Hash::Md5Sha1.digest(data);
    let Some(ff) = k.checked_sub(digest.len().saturating_add(3)).filter(|ff| *ff >= 8) else {
        return Outcome::NotPossible("the modulus is too small for PKCS#1 v1.5".into());
    };
    let mut expected = vec![0x00, 0x01];
    expected.extend(std::iter::repeat_n(0xff, ff));
    expected.push(0x00);
    expected.extend_from_slice(&digest);
    let ok = expected == em;
    d.push((
        "verdict",
        "re-encoded 00 01 FF.. 00 + MD5+SHA-1 compared with signature^e mod n (RFC 8017 §8.2.2)"
            .into(),
        if ok { "valid".into() } else { "invalid".into() },
    ));
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed(
            "the signature does not verify with the signer's public key (hash_b is not hash_a)"
                .into(),
        )
    }
}
