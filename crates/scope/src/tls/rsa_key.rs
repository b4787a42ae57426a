//! Reading a server's RSA private key (`--rsa-key`), for static-RSA key
//! exchange: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`), PEM or
//! DER, as aws-lc-rs takes it. Anything else is named for what it is (a
//! certificate, an EC key, an encrypted key...), so that a wrong file is
//! told apart from a right key that does not match.
//!
//! The parsing is aws-lc-rs's (keys) and x509-parser's (PEM, certificates,
//! requests, public keys); nothing here decodes DER by hand. Nothing here
//! panics on any input.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::rsa::{KeyPair, PrivateDecryptingKey};
use zeroize::Zeroizing;

/// Why an RSA premaster secret could not be recovered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RsaError {
    /// The key is not an RSA private key in PKCS#8 or PKCS#1 (PEM or DER)
    /// that can decrypt: what it is instead.
    NotAKey(NotRsaKey),
    /// The key is passphrase-protected.
    Encrypted,
    /// PKCS#1 v1.5 decryption failed: the ciphertext was not made for this
    /// key (or was changed).
    DecryptFailed,
    /// The decrypted premaster secret is not 48 bytes.
    BadPremasterLength(usize),
}

impl fmt::Display for RsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RsaError::NotAKey(found) => write!(f, "not a usable RSA private key: it is {found}"),
            RsaError::Encrypted => f.write_str("the private key is encrypted (decrypt it first: openssl pkey -in KEY -out KEY.plain)"),
            RsaError::DecryptFailed => {
                f.write_str("RSA decryption failed: the premaster was encrypted to another key")
            }
            RsaError::BadPremasterLength(n) => write!(f, "decrypted premaster is {n} bytes, not 48"),
        }
    }
}

impl std::error::Error for RsaError {}

/// What a file given as an RSA private key holds instead of one we can
/// decrypt with. Its display completes "the file is ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotRsaKey {
    /// Nothing, or only white space.
    Empty,
    /// An X.509 certificate.
    Certificate,
    /// A certificate signing request (PKCS#10).
    CertificateRequest,
    /// A public key (SubjectPublicKeyInfo).
    PublicKey,
    /// An elliptic-curve private key (SEC1 or PKCS#8).
    EcKey,
    /// An Ed25519 private key.
    Ed25519Key,
    /// A PKCS#8 private key of an algorithm other than RSA, EC and Ed25519.
    OtherAlgorithm,
    /// An OpenSSH private key (its own format, not PEM key data).
    OpenSshKey,
    /// An RSA key under 2048 bits: aws-lc-rs decrypts with 2048 to 8192.
    RsaTooSmall,
    /// An RSA key over 8192 bits.
    RsaTooLarge,
    /// PEM blocks, none of them a private key: their labels.
    NoKeyInPem(Vec<String>),
    /// PEM whose base64 or framing is broken.
    BadPem(String),
    /// Neither PEM nor the DER of a key, certificate or request.
    Unreadable,
}

impl fmt::Display for NotRsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRsaKey::Empty => f.write_str("empty"),
            NotRsaKey::Certificate => f.write_str("a certificate, not a private key"),
            NotRsaKey::CertificateRequest => {
                f.write_str("a certificate signing request, not a private key")
            }
            NotRsaKey::PublicKey => f.write_str("a public key, not a private key"),
            NotRsaKey::EcKey => f.write_str("an EC private key, not an RSA one"),
            NotRsaKey::Ed25519Key => f.write_str("an Ed25519 private key, not an RSA one"),
            NotRsaKey::OtherAlgorithm => {
                f.write_str("a private key of another algorithm, not an RSA one")
            }
            NotRsaKey::OpenSshKey => f.write_str(
                "an OpenSSH private key (convert a copy to PEM: ssh-keygen -p -m PEM -f COPY)",
            ),
            NotRsaKey::RsaTooSmall => f.write_str(
                "an RSA private key under 2048 bits (RSA decryption here takes 2048 to 8192 bits)",
            ),
            NotRsaKey::RsaTooLarge => f.write_str(
                "an RSA private key over 8192 bits (RSA decryption here takes 2048 to 8192 bits)",
            ),
            NotRsaKey::NoKeyInPem(labels) => {
                write!(f, "PEM without a private key (its blocks: {})", labels.join(", "))
            }
            NotRsaKey::BadPem(why) => write!(f, "PEM that does not decode ({why})"),
            NotRsaKey::Unreadable => f.write_str("neither PEM nor the DER of a key or certificate"),
        }
    }
}

/// Reads an RSA private key: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE
/// KEY`), PEM or DER; in a PEM file with several blocks (a certificate and
/// its key), the first private key. aws-lc-rs decrypts with 2048- to
/// 8192-bit keys only.
pub fn read(key: &[u8]) -> Result<PrivateDecryptingKey, RsaError> {
    if key.trim_ascii().is_empty() {
        return Err(RsaError::NotAKey(NotRsaKey::Empty));
    }
    if memchr::memmem::find(key, b"-----BEGIN ").is_none() {
        return from_der(key);
    }
    // RFC 1421 headers: a key encrypted the traditional OpenSSL way.
    if memchr::memmem::find(key, b"Proc-Type: 4,ENCRYPTED").is_some() {
        return Err(RsaError::Encrypted);
    }
    let mut seen = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(key) {
        let pem = pem.map_err(|e| RsaError::NotAKey(NotRsaKey::BadPem(e.to_string())))?;
        match pem.label.as_str() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" => return from_der(&Zeroizing::new(pem.contents)),
            "ENCRYPTED PRIVATE KEY" => return Err(RsaError::Encrypted),
            _ => {
                // The key material of another kind of key is secret too.
                drop(Zeroizing::new(pem.contents));
                seen.push(pem.label);
            }
        }
    }
    Err(RsaError::NotAKey(pem_without_key(seen)))
}

/// Checks that `key` is an RSA private key that can decrypt (see [`read`]);
/// its size in bits.
pub fn check(key: &[u8]) -> Result<usize, RsaError> {
    read(key).map(|k| k.key_size_bits())
}

/// What a PEM file without a private key block holds, by the most telling
/// of its labels: a key of another kind before a certificate.
fn pem_without_key(labels: Vec<String>) -> NotRsaKey {
    let kind = |label: &str| match label {
        "EC PRIVATE KEY" => Some(NotRsaKey::EcKey),
        "OPENSSH PRIVATE KEY" => Some(NotRsaKey::OpenSshKey),
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => Some(NotRsaKey::Certificate),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Some(NotRsaKey::CertificateRequest),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Some(NotRsaKey::PublicKey),
        _ => None,
    };
    let order = [
        NotRsaKey::EcKey,
        NotRsaKey::OpenSshKey,
        NotRsaKey::Certificate,
        NotRsaKey::CertificateRequest,
        NotRsaKey::PublicKey,
    ];
    let kinds: Vec<NotRsaKey> = labels.iter().filter_map(|l| kind(l)).collect();
    order.into_iter().find(|k| kinds.contains(k)).unwrap_or(NotRsaKey::NoKeyInPem(labels))
}

/// An RSA private key from DER, PKCS#8 or PKCS#1; anything else named.
fn from_der(der: &[u8]) -> Result<PrivateDecryptingKey, RsaError> {
    let pkcs8 = match PrivateDecryptingKey::from_pkcs8(der) {
        Ok(k) => return Ok(k),
        Err(e) => e,
    };
    // PKCS#1 RSAPrivateKey: aws-lc-rs reads it as a signing key pair, and
    // re-encodes it as PKCS#8 for decryption.
    let pkcs1 = match KeyPair::from_der(der) {
        Ok(pair) => {
            let reencoded = pair.as_der().map_err(|_| RsaError::NotAKey(NotRsaKey::Unreadable))?;
            return PrivateDecryptingKey::from_pkcs8(reencoded.as_ref())
                .map_err(|e| RsaError::NotAKey(rejected(e).unwrap_or(NotRsaKey::Unreadable)));
        }
        Err(e) => e,
    };
    let found = rejected(pkcs8).or_else(|| rejected(pkcs1)).unwrap_or_else(|| {
        let wrong_algorithm = pkcs8.description_() == WRONG_ALGORITHM;
        not_rsa(der, wrong_algorithm)
    });
    Err(RsaError::NotAKey(found))
}

/// aws-lc-rs's names for why it refused a key ([`KeyRejected`] has no
/// other way to tell them apart).
const TOO_SMALL: &str = "TooSmall";
const TOO_LARGE: &str = "TooLarge";
const WRONG_ALGORITHM: &str = "WrongAlgorithm";

/// An RSA key refused for its size.
fn rejected(e: KeyRejected) -> Option<NotRsaKey> {
    match e.description_() {
        TOO_SMALL => Some(NotRsaKey::RsaTooSmall),
        TOO_LARGE => Some(NotRsaKey::RsaTooLarge),
        _ => None,
    }
}

/// What DER that is no RSA private key is. `wrong_algorithm`: it parsed as
/// PKCS#8, of another algorithm.
fn not_rsa(der: &[u8], wrong_algorithm: bool) -> NotRsaKey {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256K1_SHA256_ASN1_SIGNING,
        ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair,
    };
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::prelude::{FromDer, X509Certificate};
    use x509_parser::x509::SubjectPublicKeyInfo;

    if Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
        return NotRsaKey::Ed25519Key;
    }
    // PKCS#8 or SEC1, on the curves aws-lc-rs knows.
    let curves = [
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &ECDSA_P384_SHA384_ASN1_SIGNING,
        &ECDSA_P521_SHA512_ASN1_SIGNING,
        &ECDSA_P256K1_SHA256_ASN1_SIGNING,
    ];
    if curves.into_iter().any(|c| EcdsaKeyPair::from_private_key_der(c, der).is_ok()) {
        return NotRsaKey::EcKey;
    }
    if wrong_algorithm {
        return NotRsaKey::OtherAlgorithm;
    }
    if X509Certificate::from_der(der).is_ok() {
        return NotRsaKey::Certificate;
    }
    if X509CertificationRequest::from_der(der).is_ok() {
        return NotRsaKey::CertificateRequest;
    }
    if SubjectPublicKeyInfo::from_der(der).is_ok() {
        return NotRsaKey::PublicKey;
    }
    NotRsaKey::Unreadable
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};

    use super::*;

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
    /// -nodes -subj /CN=t -days 1`: a small certificate.
    const EC_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIUZPlqoVfyduNwkM4ZDz7s/p4rMP0wCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBdDAeFw0yNjEyMDcyMjQyMjdaFw0yNjEyMDgyMjQyMjdaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQhmYdyd4dA1R77
NzYkwZ7NwwZW0RbvqJ+A++4UipE5d/cbkmgB5axkUxhguL0FI2eeoUdArPy3rF8f
MGQfwiuJo1MwUTAdBgNVHQ4EFgQUor5uNkN6mcHHWrOoW+FOOTbqqygwHwYDVR0j
BBgwFoAUor5uNkN6mcHHWrOoW+FOOTbqqygwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAy1WbDYMB2wo88x9LZUyv7NLlz0Rph5TTlqK1WoSSP/wC
IQC9HOuuo5NHh/mDBFDN5bLqzYlnnYbO/uSPgCkvisxBoQ==
-----END CERTIFICATE-----
";

    /// `openssl pkey -pubout` of that certificate's key.
    const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIZmHcneHQNUe+zc2JMGezcMGVtEW
76ifgPvuFIqROXf3G5JoAeWsZFMYYLi9BSNnnqFHQKz8t6xfHzBkH8IriQ==
-----END PUBLIC KEY-----
";

    /// `openssl genrsa 512` (PKCS#8), a key too small to decrypt with.
    const RSA_512_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAydhO3afl+ovQIogl
U9PmNq0q+vW0qUbyeBt7uMuoxZYV+yxgM4SGGuJL+zOXMTQlQFOVXe4ce+61Qe73
rf8Z7QIDAQABAkEAw11rkF13WtdCwHm4b3fVBqz7weZaU9II1Dn9uXLeS0bsdPv4
4rNjmj9ll39kEJ6qboSnKIrveZ9uFljZfoS6gQIhAPuf24gc4stKF5MTvrUYyCTw
EW4SrXDClkKW/dd/TfHhAiEAzVrZloyQPuIRprxPdh5mYRP65DX60uzRYWZPY7P/
AY0CIQD46PPDu79mFg8oAPpALxmd4JV9a6CC0RrPGIpW6Kn0QQIgOKFaKds/mCfN
yFZb7234u8K/yJlePzaRkzOcpxknNK0CIQCBaMdmhO79ESGpFVq8vytjx1EIn0ZN
gCINuyn5d1pHuQ==
-----END PRIVATE KEY-----
";

    /// The same key as PKCS#1 (`openssl rsa -traditional`).
    const RSA_512_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBAMnYTt2n5fqL0CKIJVPT5jatKvr1tKlG8ngbe7jLqMWWFfssYDOE
hhriS/szlzE0JUBTlV3uHHvutUHu963/Ge0CAwEAAQJBAMNda5Bdd1rXQsB5uG93
1Qas+8HmWlPSCNQ5/bly3ktG7HT7+OKzY5o/ZZd/ZBCeqm6EpyiK73mfbhZY2X6E
uoECIQD7n9uIHOLLSheTE761GMgk8BFuEq1wwpZClv3Xf03x4QIhAM1a2ZaMkD7i
Eaa8T3YeZmET+uQ1+tLs0WFmT2Oz/wGNAiEA+Ojzw7u/ZhYPKAD6QC8ZneCVfWug
gtEazxiKVuip9EECIDihWinbP5gnzchWW+9t+LvCv8iZXj82kZMznKcZJzStAiEA
gWjHZoTu/REhqRVavL8rY8dRCJ9GTYAiDbsp+XdaR7k=
-----END RSA PRIVATE KEY-----
";

    fn pem(label: &str, der: &[u8]) -> Vec<u8> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out.into_bytes()
    }

    fn pem_der(text: &str) -> Vec<u8> {
        x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()).next().unwrap().unwrap().contents
    }

    fn rsa_2048_pkcs8() -> Vec<u8> {
        KeyPair::generate(KeySize::Rsa2048).unwrap().as_der().unwrap().as_ref().to_vec()
    }

    fn not_a_key(key: &[u8]) -> NotRsaKey {
        match read(key) {
            Err(RsaError::NotAKey(found)) => found,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("read as an RSA key"),
        }
    }

    #[test]
    fn accepts_an_rsa_key_as_pkcs8_der_and_pem_and_beside_its_certificate() {
        let der = rsa_2048_pkcs8();
        assert_eq!(check(&der).unwrap(), 2048);
        assert_eq!(check(&pem("PRIVATE KEY", &der)).unwrap(), 2048);
        // A certificate first and the key after it, as in a server's
        // combined .pem, with text before (openssl's "Bag Attributes").
        let mut both = b"Bag Attributes\n    localKeyID: 01\n".to_vec();
        both.extend_from_slice(EC_CERT.as_bytes());
        both.extend_from_slice(&pem("PRIVATE KEY", &der));
        assert_eq!(check(&both).unwrap(), 2048);
    }

    #[test]
    fn names_a_certificate_a_request_and_a_public_key() {
        assert_eq!(not_a_key(EC_CERT.as_bytes()), NotRsaKey::Certificate);
        assert_eq!(not_a_key(&pem_der(EC_CERT)), NotRsaKey::Certificate);
        assert_eq!(not_a_key(EC_PUBLIC.as_bytes()), NotRsaKey::PublicKey);
        assert_eq!(not_a_key(&pem_der(EC_PUBLIC)), NotRsaKey::PublicKey);
        assert_eq!(
            not_a_key(&pem("CERTIFICATE REQUEST", b"\x30\x00")),
            NotRsaKey::CertificateRequest
        );
        assert_eq!(not_a_key(EC_CERT.as_bytes()).to_string(), "a certificate, not a private key");
    }

    #[test]
    fn names_ec_and_ed25519_keys_in_every_form() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let pkcs8 = ec.to_pkcs8v1().unwrap();
        let sec1 = ec.private_key().as_der().unwrap();
        assert_eq!(not_a_key(pkcs8.as_ref()), NotRsaKey::EcKey);
        assert_eq!(not_a_key(&pem("PRIVATE KEY", pkcs8.as_ref())), NotRsaKey::EcKey);
        assert_eq!(not_a_key(sec1.as_ref()), NotRsaKey::EcKey);
        assert_eq!(not_a_key(&pem("EC PRIVATE KEY", sec1.as_ref())), NotRsaKey::EcKey);
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        assert_eq!(not_a_key(ed.as_ref()), NotRsaKey::Ed25519Key);
        assert_eq!(not_a_key(&pem("PRIVATE KEY", ed.as_ref())), NotRsaKey::Ed25519Key);
        assert_eq!(
            not_a_key(&pem("EC PRIVATE KEY", sec1.as_ref())).to_string(),
            "an EC private key, not an RSA one"
        );
    }

    #[test]
    fn names_rsa_keys_too_small_to_decrypt_with() {
        assert_eq!(not_a_key(RSA_512_PKCS8.as_bytes()), NotRsaKey::RsaTooSmall);
        assert_eq!(not_a_key(RSA_512_PKCS1.as_bytes()), NotRsaKey::RsaTooSmall);
        assert_eq!(not_a_key(&pem_der(RSA_512_PKCS1)), NotRsaKey::RsaTooSmall);
    }

    #[test]
    fn says_a_key_is_encrypted() {
        assert_eq!(
            read(&pem("ENCRYPTED PRIVATE KEY", b"\x30\x00")).err(),
            Some(RsaError::Encrypted)
        );
        let traditional = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                           DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n\
                           -----END RSA PRIVATE KEY-----\n";
        assert_eq!(read(traditional.as_bytes()).err(), Some(RsaError::Encrypted));
    }

    #[test]
    fn names_garbage_empty_files_and_pem_of_other_things() {
        assert_eq!(not_a_key(b""), NotRsaKey::Empty);
        assert_eq!(not_a_key(b" \n\t\n"), NotRsaKey::Empty);
        assert_eq!(not_a_key(b"hello\n"), NotRsaKey::Unreadable);
        assert_eq!(not_a_key(&[0x30, 0x82, 0xff, 0xff, 1, 2, 3]), NotRsaKey::Unreadable);
        assert_eq!(
            not_a_key(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"),
            NotRsaKey::OpenSshKey
        );
        assert_eq!(
            not_a_key(&pem("X509 CRL", b"\x30\x00")),
            NotRsaKey::NoKeyInPem(vec!["X509 CRL".into()])
        );
        assert!(matches!(
            not_a_key(b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"),
            NotRsaKey::BadPem(_)
        ));
        // Cut before its end.
        assert!(matches!(not_a_key(b"-----BEGIN PRIVATE KEY-----\nMIIB\n"), NotRsaKey::BadPem(_)));
    }

    #[test]
    fn every_prefix_of_a_key_fails_cleanly() {
        let der = rsa_2048_pkcs8();
        for n in 0..der.len() {
            assert!(read(der.get(..n).unwrap()).is_err(), "a {n}-byte prefix was read as a key");
        }
        // Up to the end line: from there on the key is whole.
        let text = pem("PRIVATE KEY", &der);
        let end = memchr::memmem::find(&text, b"-----END ").unwrap();
        for n in 0..end {
            assert!(read(text.get(..n).unwrap()).is_err(), "a {n}-byte PEM prefix was read");
        }
    }
}
