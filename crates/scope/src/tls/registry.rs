//! The TLS registries: names for cipher suites, groups, signature schemes,
//! extensions, alerts, handshake and content types, versions.
//!
//! The tables are generated at build time (`build.rs`) from the IANA CSV
//! exports checked in under `crates/scope/registry/` (their sources are in
//! `registry/README.md`), sorted by code point; lookups are binary searches
//! and never allocate. Every lookup returns `None` for a value the registry
//! does not name, so callers keep unknown values and print them with
//! [`describe`] as `unknown (0x1234)`; GREASE values
//! ([RFC 8701](https://www.rfc-editor.org/rfc/rfc8701)) are recognised by
//! [`is_grease`] rather than listed.
//!
//! No function here can panic.

mod suite_name;

pub use suite_name::{SuiteParts, split as split_suite_name};

include!(concat!(env!("OUT_DIR"), "/tls_registry.rs"));

/// A cipher suite from the IANA registry
/// ([RFC 8447](https://www.rfc-editor.org/rfc/rfc8447)), with the parts its
/// name spells (see [`split_suite_name`] for the rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CipherSuite {
    /// The two-byte code point, e.g. `0xc02f`.
    pub id: u16,
    /// IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`.
    pub name: &'static str,
    /// Key exchange: `ECDHE`, `DHE`, `RSA`, `PSK`, `ECDHE_PSK`, `any` (TLS 1.3) ...
    pub kx: &'static str,
    /// Authentication: `RSA`, `ECDSA`, `DSS`, `PSK`, `anon`, `any` (TLS 1.3) ...
    pub auth: &'static str,
    /// Bulk cipher: `AES_128_GCM`, `CHACHA20_POLY1305`, `AES_256_CBC`, `3DES_EDE_CBC`, `NULL` ...
    pub cipher: &'static str,
    /// MAC or PRF hash: `SHA256`, `SHA384`, `SHA` (that is SHA-1), `MD5` ...
    pub mac: &'static str,
    /// The cipher is an AEAD: records carry no separate MAC, `mac` is the PRF hash.
    pub aead: bool,
    /// A TLS 1.3 suite (key exchange and authentication are negotiated apart).
    pub tls13: bool,
    /// IANA "Recommended": `Some(true)` for Y, `Some(false)` for N or D, `None` if blank.
    pub recommended: Option<bool>,
    /// IANA marks the suite "D", discouraged
    /// ([RFC 9847](https://www.rfc-editor.org/rfc/rfc9847)).
    pub discouraged: bool,
}

impl CipherSuite {
    /// A signalling value (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`,
    /// `TLS_FALLBACK_SCSV`), not a suite that can be negotiated.
    pub fn is_scsv(&self) -> bool {
        self.kx == "SCSV"
    }

    /// `ECDHE / RSA / AES_128_GCM / SHA256`: key exchange, authentication,
    /// cipher, MAC or PRF hash.
    pub fn parts(&self) -> String {
        if self.is_scsv() {
            return "signalling value (SCSV), not a cipher suite".to_string();
        }
        format!("{} / {} / {} / {}", self.kx, self.auth, self.cipher, self.mac)
    }
}

/// Looks up `id` in a table sorted by id.
fn find<K: Ord + Copy, T>(table: &'static [T], id: K, key: impl Fn(&T) -> K) -> Option<&'static T> {
    table.binary_search_by(|row| key(row).cmp(&id)).ok().and_then(|i| table.get(i))
}

/// The cipher suite with code point `id` (`0x1301` → `TLS_AES_128_GCM_SHA256`).
pub fn cipher_suite(id: u16) -> Option<&'static CipherSuite> {
    find(CIPHER_SUITES, id, |s| s.id)
}

/// Every cipher suite IANA names, sorted by id.
pub fn cipher_suites() -> &'static [CipherSuite] {
    CIPHER_SUITES
}

/// OpenSSL's name for a suite (`0xc02f` → `ECDHE-RSA-AES128-GCM-SHA256`;
/// TLS 1.3 suites keep their IANA names), for the suites OpenSSL 3.0 lists
/// with `openssl ciphers -V ALL:COMPLEMENTOFALL`.
pub fn openssl_name(id: u16) -> Option<&'static str> {
    find(OPENSSL_NAMES, id, |r| r.0).map(|r| r.1)
}

/// A supported group (`0x001d` → `x25519`, `0x11ec` → `X25519MLKEM768`,
/// `0x0100` → `ffdhe2048`), [RFC 8446 §4.2.7](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.7).
pub fn named_group(id: u16) -> Option<&'static str> {
    find(NAMED_GROUPS, id, |r| r.0).map(|r| r.1)
}

/// A signature scheme (`0x0804` → `rsa_pss_rsae_sha256`),
/// [RFC 8446 §4.2.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.3).
/// For TLS 1.2 the same two bytes are a (hash, signature) pair
/// ([RFC 5246 §7.4.1.4.1](https://www.rfc-editor.org/rfc/rfc5246#section-7.4.1.4.1));
/// RFC 8446 chose the code points so the common pairs read the same.
pub fn signature_scheme(id: u16) -> Option<&'static str> {
    find(SIGNATURE_SCHEMES, id, |r| r.0).map(|r| r.1)
}

/// The signature algorithm and hash of a signature scheme:
/// `rsa_pkcs1_sha256` → (`RSA-PKCS1`, `SHA256`), `rsa_pss_rsae_sha384` and
/// `rsa_pss_pss_sha384` → (`RSA-PSS`, `SHA384`), `ecdsa_secp256r1_sha256`
/// → (`ECDSA`, `SHA256`), `ed25519` → (`EdDSA`, `intrinsic`), `mldsa65` →
/// (`ML-DSA`, `intrinsic`). EdDSA and ML-DSA hash inside the algorithm.
/// `None` for schemes without a plain algorithm/hash split (the IBC ones).
pub fn signature_scheme_parts(id: u16) -> Option<(&'static str, &'static str)> {
    let name = signature_scheme(id)?;
    let hash = |suffix: &str| match suffix.trim_end_matches("_legacy").rsplit('_').next()? {
        "sha1" => Some("SHA1"),
        "sha224" => Some("SHA224"),
        "sha256" => Some("SHA256"),
        "sha384" => Some("SHA384"),
        "sha512" => Some("SHA512"),
        "sm3" => Some("SM3"),
        _ => None,
    };
    if name.starts_with("rsa_pkcs1_") {
        Some(("RSA-PKCS1", hash(name)?))
    } else if name.starts_with("rsa_pss_") {
        Some(("RSA-PSS", hash(name)?))
    } else if name.starts_with("ecdsa_") {
        Some(("ECDSA", hash(name)?))
    } else if name == "ed25519" || name == "ed448" {
        Some(("EdDSA", "intrinsic"))
    } else if name.starts_with("mldsa") {
        Some(("ML-DSA", "intrinsic"))
    } else if name == "sm2sig_sm3" {
        Some(("SM2", "SM3"))
    } else if name == "eccsi_sha256" {
        Some(("ECCSI", "SHA256"))
    } else if name.starts_with("gostr34102012_256") {
        Some(("GOST R 34.10-2012", "GOST R 34.11-2012 (256)"))
    } else if name.starts_with("gostr34102012_512") {
        Some(("GOST R 34.10-2012", "GOST R 34.11-2012 (512)"))
    } else {
        None
    }
}

/// An extension type (`0x0000` → `server_name`, `0x002b` →
/// `supported_versions`, `0xfe0d` → `encrypted_client_hello`),
/// [RFC 8446 §4.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.2).
pub fn extension_type(id: u16) -> Option<&'static str> {
    find(EXTENSION_TYPES, id, |r| r.0).map(|r| r.1)
}

/// An alert description (`0` → `close_notify`, `40` → `handshake_failure`),
/// [RFC 8446 §6](https://www.rfc-editor.org/rfc/rfc8446#section-6).
pub fn alert_description(id: u8) -> Option<&'static str> {
    find(ALERT_DESCRIPTIONS, id, |r| r.0).map(|r| r.1)
}

/// An alert level, [RFC 5246 §7.2](https://www.rfc-editor.org/rfc/rfc5246#section-7.2)
/// (TLS 1.3 ignores the level, RFC 8446 §6).
pub fn alert_level(id: u8) -> Option<&'static str> {
    match id {
        1 => Some("warning"),
        2 => Some("fatal"),
        _ => None,
    }
}

/// A handshake message type, IANA name (`1` → `client_hello`),
/// [RFC 8446 §4](https://www.rfc-editor.org/rfc/rfc8446#section-4).
pub fn handshake_type(id: u8) -> Option<&'static str> {
    find(HANDSHAKE_TYPES, id, |r| r.0).map(|r| r.1)
}

/// A handshake message type as the RFCs name the message and our JSON
/// shows it (`1` → `ClientHello`, `21` → `CertificateURL`, `254` →
/// `MessageHash`).
pub fn handshake_type_camel(id: u8) -> Option<&'static str> {
    find(HANDSHAKE_TYPES, id, |r| r.0).map(|r| r.2)
}

/// A record content type (`22` → `handshake`),
/// [RFC 8446 §5.1](https://www.rfc-editor.org/rfc/rfc8446#section-5.1).
pub fn content_type(id: u8) -> Option<&'static str> {
    find(CONTENT_TYPES, id, |r| r.0).map(|r| r.1)
}

/// An EC point format (`0` → `uncompressed`),
/// [RFC 8422 §5.1.2](https://www.rfc-editor.org/rfc/rfc8422#section-5.1.2).
pub fn ec_point_format(id: u8) -> Option<&'static str> {
    find(EC_POINT_FORMATS, id, |r| r.0).map(|r| r.1)
}

/// An EC curve type in a TLS 1.2 ServerKeyExchange (`3` → `named_curve`),
/// [RFC 8422 §5.4](https://www.rfc-editor.org/rfc/rfc8422#section-5.4).
pub fn ec_curve_type(id: u8) -> Option<&'static str> {
    find(EC_CURVE_TYPES, id, |r| r.0).map(|r| r.1)
}

/// A protocol version as the record and hello `version` fields carry it
/// (`0x0303` → `TLS 1.2`). Not an IANA registry: the values come from
/// [RFC 8446 §B.1](https://www.rfc-editor.org/rfc/rfc8446#appendix-B.1),
/// [RFC 6101 §A.1](https://www.rfc-editor.org/rfc/rfc6101#appendix-A.1)
/// (SSL 3.0), [RFC 6347 §4.1](https://www.rfc-editor.org/rfc/rfc6347#section-4.1)
/// and [RFC 9147 §5.3](https://www.rfc-editor.org/rfc/rfc9147#section-5.3)
/// (DTLS, one's complement of the TLS numbers); SSL 2.0 ClientHellos carry `0x0002`.
pub fn version(v: u16) -> Option<&'static str> {
    match v {
        0x0002 => Some("SSL 2.0"),
        0x0300 => Some("SSL 3.0"),
        0x0301 => Some("TLS 1.0"),
        0x0302 => Some("TLS 1.1"),
        0x0303 => Some("TLS 1.2"),
        0x0304 => Some("TLS 1.3"),
        0xfeff => Some("DTLS 1.0"),
        0xfefd => Some("DTLS 1.2"),
        0xfefc => Some("DTLS 1.3"),
        _ => None,
    }
}

/// A GREASE value ([RFC 8701 §2](https://www.rfc-editor.org/rfc/rfc8701#section-2)):
/// `0x0a0a`, `0x1a1a`, ... `0xfafa`, reserved in the cipher suite, group,
/// extension, version and signature registries so that peers learn to
/// ignore values they do not know.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// `name (0x001d)` for a known value, `GREASE (0x1a1a)` for a GREASE value,
/// `unknown (0x1234)` otherwise; `width` is the number of hex digits (2 for
/// one-byte registries, 4 for two-byte ones).
///
/// ```
/// use tlsscope_scope::tls::registry::{describe, named_group};
/// assert_eq!(describe(named_group(0x001d), 0x001d, 4), "x25519 (0x001d)");
/// assert_eq!(describe(named_group(0x1a1a), 0x1a1a, 4), "GREASE (0x1a1a)");
/// ```
pub fn describe(name: Option<&str>, id: u16, width: usize) -> String {
    let name = match name {
        Some(n) => n,
        None if is_grease(id) => "GREASE",
        None => "unknown",
    };
    format!("{name} (0x{id:0width$x})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_unique<K: Ord + Copy + std::fmt::Debug, T>(
        table: &[T],
        key: impl Fn(&T) -> K,
        what: &str,
    ) {
        assert!(!table.is_empty(), "{what} is empty");
        for pair in table.windows(2) {
            let (a, b) = (key(&pair[0]), key(&pair[1]));
            assert!(a < b, "{what}: {a:?} then {b:?} (unsorted or duplicate)");
        }
    }

    #[test]
    fn generated_tables_are_sorted_without_duplicates() {
        sorted_unique(CIPHER_SUITES, |s| s.id, "CIPHER_SUITES");
        sorted_unique(OPENSSL_NAMES, |r| r.0, "OPENSSL_NAMES");
        sorted_unique(NAMED_GROUPS, |r| r.0, "NAMED_GROUPS");
        sorted_unique(SIGNATURE_SCHEMES, |r| r.0, "SIGNATURE_SCHEMES");
        sorted_unique(EXTENSION_TYPES, |r| r.0, "EXTENSION_TYPES");
        sorted_unique(ALERT_DESCRIPTIONS, |r| r.0, "ALERT_DESCRIPTIONS");
        sorted_unique(HANDSHAKE_TYPES, |r| r.0, "HANDSHAKE_TYPES");
        sorted_unique(CONTENT_TYPES, |r| r.0, "CONTENT_TYPES");
        sorted_unique(EC_POINT_FORMATS, |r| r.0, "EC_POINT_FORMATS");
        sorted_unique(EC_CURVE_TYPES, |r| r.0, "EC_CURVE_TYPES");
    }

    #[test]
    fn tables_hold_no_placeholders_or_grease() {
        let names = CIPHER_SUITES
            .iter()
            .map(|s| (s.id, s.name))
            .chain(NAMED_GROUPS.iter().copied())
            .chain(SIGNATURE_SCHEMES.iter().copied())
            .chain(EXTENSION_TYPES.iter().copied());
        for (id, name) in names {
            assert!(!is_grease(id), "GREASE value 0x{id:04x} ({name}) in a table");
            assert!(
                !name.is_empty()
                    && !name.starts_with("Reserved")
                    && !name.starts_with("Unassigned")
                    && !name.contains("renamed from")
                    && !name.contains('\n'),
                "0x{id:04x}: {name:?}"
            );
        }
    }

    #[test]
    fn registry_sizes_are_plausible() {
        // Guards against a CSV that silently parses to almost nothing.
        assert!(CIPHER_SUITES.len() > 330, "{} suites", CIPHER_SUITES.len());
        assert!(NAMED_GROUPS.len() > 50, "{} groups", NAMED_GROUPS.len());
        assert!(SIGNATURE_SCHEMES.len() > 30, "{} schemes", SIGNATURE_SCHEMES.len());
        assert!(EXTENSION_TYPES.len() > 60, "{} extensions", EXTENSION_TYPES.len());
        assert!(OPENSSL_NAMES.len() > 100, "{} OpenSSL names", OPENSSL_NAMES.len());
    }

    #[test]
    fn every_suite_name_splits_into_known_parts() {
        let kx = [
            "NULL",
            "RSA",
            "RSA_EXPORT",
            "DH",
            "DH_EXPORT",
            "DHE",
            "DHE_EXPORT",
            "KRB5",
            "KRB5_EXPORT",
            "PSK",
            "DHE_PSK",
            "RSA_PSK",
            "ECDHE_PSK",
            "ECDH",
            "ECDHE",
            "SRP",
            "ECCPWD",
            "GOST",
            "SCSV",
            "any",
        ];
        let auth = [
            "NULL", "RSA", "DSS", "anon", "KRB5", "PSK", "ECDSA", "SRP", "ECCPWD", "GOST", "SCSV",
            "any",
        ];
        for s in CIPHER_SUITES {
            assert!(kx.contains(&s.kx), "{}: key exchange {:?}", s.name, s.kx);
            assert!(auth.contains(&s.auth), "{}: authentication {:?}", s.name, s.auth);
            assert!(!s.cipher.is_empty() && !s.mac.is_empty(), "{}", s.name);
            assert_eq!(s.tls13, s.kx == "any", "{}", s.name);
        }
    }

    #[test]
    fn looks_up_cipher_suites() {
        let s = cipher_suite(0x1301).expect("0x1301");
        assert_eq!(s.name, "TLS_AES_128_GCM_SHA256");
        assert_eq!(s.parts(), "any / any / AES_128_GCM / SHA256");
        assert!(s.tls13 && s.aead);
        assert_eq!(s.recommended, Some(true));

        let s = cipher_suite(0xc02f).expect("0xc02f");
        assert_eq!(s.name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(s.parts(), "ECDHE / RSA / AES_128_GCM / SHA256");
        assert!(!s.tls13 && s.aead);

        let s = cipher_suite(0x002f).expect("0x002f");
        assert_eq!(s.parts(), "RSA / RSA / AES_128_CBC / SHA");
        assert!(!s.aead);
        assert_eq!(s.recommended, Some(false));

        assert_eq!(cipher_suite(0x000a).map(|s| s.cipher), Some("3DES_EDE_CBC"));
        assert_eq!(
            cipher_suite(0x009f).map(|s| s.parts()).as_deref(),
            Some("DHE / RSA / AES_256_GCM / SHA384")
        );
        assert_eq!(
            cipher_suite(0xcca9).map(|s| s.name),
            Some("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
        );
        assert_eq!(cipher_suite(0x1305).map(|s| s.cipher), Some("AES_128_CCM_8"));

        let scsv = cipher_suite(0x00ff).expect("0x00ff");
        assert_eq!(scsv.name, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
        assert!(scsv.is_scsv());
        assert!(scsv.parts().starts_with("signalling value"));
        assert!(cipher_suite(0x5600).is_some_and(|s| s.name == "TLS_FALLBACK_SCSV" && s.is_scsv()));

        // RFC 9847 marks RC4 "D"iscouraged.
        assert!(
            cipher_suite(0xc011).is_some_and(|s| s.discouraged && s.recommended == Some(false))
        );
        assert!(cipher_suite(0xc02b).is_some_and(|s| !s.discouraged));
    }

    #[test]
    fn unassigned_and_grease_suites_are_unknown() {
        for id in [0x0a0a, 0xfafa, 0x001c, 0x1308, 0xfefe, 0xff00, 0xffff] {
            assert_eq!(cipher_suite(id), None, "0x{id:04x}");
        }
    }

    #[test]
    fn looks_up_openssl_names() {
        assert_eq!(openssl_name(0xc02f), Some("ECDHE-RSA-AES128-GCM-SHA256"));
        assert_eq!(openssl_name(0xc030), Some("ECDHE-RSA-AES256-GCM-SHA384"));
        assert_eq!(openssl_name(0x009e), Some("DHE-RSA-AES128-GCM-SHA256"));
        assert_eq!(openssl_name(0x002f), Some("AES128-SHA"));
        assert_eq!(openssl_name(0xc013), Some("ECDHE-RSA-AES128-SHA"));
        assert_eq!(openssl_name(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(openssl_name(0x00ff), None);
        for (id, _) in OPENSSL_NAMES {
            assert!(cipher_suite(*id).is_some(), "OpenSSL suite 0x{id:04x} not in the IANA table");
        }
    }

    #[test]
    fn looks_up_groups() {
        assert_eq!(named_group(0x001d), Some("x25519"));
        assert_eq!(named_group(0x0017), Some("secp256r1"));
        assert_eq!(named_group(0x0018), Some("secp384r1"));
        assert_eq!(named_group(0x001e), Some("x448"));
        assert_eq!(named_group(0x0100), Some("ffdhe2048"));
        assert_eq!(named_group(0x11ec), Some("X25519MLKEM768"));
        assert_eq!(named_group(0x11eb), Some("SecP256r1MLKEM768"));
        assert_eq!(named_group(0x0201), Some("MLKEM768"));
        assert_eq!(named_group(0x6399), Some("X25519Kyber768Draft00 (OBSOLETE)"));
        assert_eq!(named_group(0x0000), None);
        assert_eq!(named_group(0x0a0a), None);
    }

    #[test]
    fn looks_up_signature_schemes() {
        assert_eq!(signature_scheme(0x0804), Some("rsa_pss_rsae_sha256"));
        assert_eq!(signature_scheme(0x0401), Some("rsa_pkcs1_sha256"));
        assert_eq!(signature_scheme(0x0403), Some("ecdsa_secp256r1_sha256"));
        assert_eq!(signature_scheme(0x0807), Some("ed25519"));
        assert_eq!(signature_scheme(0x0905), Some("mldsa65"));
        assert_eq!(signature_scheme(0x0840), None, "reserved rows are skipped");
        assert_eq!(signature_scheme(0x0402), None);

        assert_eq!(signature_scheme_parts(0x0401), Some(("RSA-PKCS1", "SHA256")));
        assert_eq!(signature_scheme_parts(0x0201), Some(("RSA-PKCS1", "SHA1")));
        assert_eq!(signature_scheme_parts(0x0420), Some(("RSA-PKCS1", "SHA256")));
        assert_eq!(signature_scheme_parts(0x0804), Some(("RSA-PSS", "SHA256")));
        assert_eq!(signature_scheme_parts(0x080b), Some(("RSA-PSS", "SHA512")));
        assert_eq!(signature_scheme_parts(0x0503), Some(("ECDSA", "SHA384")));
        assert_eq!(signature_scheme_parts(0x0203), Some(("ECDSA", "SHA1")));
        assert_eq!(signature_scheme_parts(0x081a), Some(("ECDSA", "SHA256")));
        assert_eq!(signature_scheme_parts(0x0807), Some(("EdDSA", "intrinsic")));
        assert_eq!(signature_scheme_parts(0x0904), Some(("ML-DSA", "intrinsic")));
        assert_eq!(signature_scheme_parts(0x0708), Some(("SM2", "SM3")));
        assert_eq!(signature_scheme_parts(0x0705), None);
        assert_eq!(signature_scheme_parts(0x1234), None);
    }

    #[test]
    fn looks_up_extensions() {
        assert_eq!(extension_type(0x0000), Some("server_name"));
        assert_eq!(extension_type(0x000a), Some("supported_groups"));
        assert_eq!(extension_type(0x000d), Some("signature_algorithms"));
        assert_eq!(extension_type(0x0010), Some("application_layer_protocol_negotiation"));
        assert_eq!(extension_type(0x0017), Some("extended_master_secret"));
        assert_eq!(extension_type(0x0023), Some("session_ticket"));
        assert_eq!(extension_type(0x002b), Some("supported_versions"));
        assert_eq!(extension_type(0x0033), Some("key_share"));
        assert_eq!(extension_type(0x0018), Some("token_binding"));
        assert_eq!(extension_type(0xfd00), Some("ech_outer_extensions"));
        assert_eq!(extension_type(0xfe0d), Some("encrypted_client_hello"));
        assert_eq!(extension_type(0xff01), Some("renegotiation_info"));
        assert_eq!(extension_type(0x0028), None);
        assert_eq!(extension_type(0x4469), None, "ALPS is not in the IANA registry");
    }

    #[test]
    fn looks_up_small_registries() {
        assert_eq!(alert_description(0), Some("close_notify"));
        assert_eq!(alert_description(40), Some("handshake_failure"));
        assert_eq!(alert_description(70), Some("protocol_version"));
        assert_eq!(alert_description(121), Some("ech_required"));
        assert_eq!(alert_description(1), None);
        assert_eq!(alert_level(2), Some("fatal"));
        assert_eq!(alert_level(3), None);

        assert_eq!(content_type(20), Some("change_cipher_spec"));
        assert_eq!(content_type(21), Some("alert"));
        assert_eq!(content_type(22), Some("handshake"));
        assert_eq!(content_type(23), Some("application_data"));
        assert_eq!(content_type(24), Some("heartbeat"));
        assert_eq!(content_type(19), None);

        assert_eq!(ec_point_format(0), Some("uncompressed"));
        assert_eq!(ec_point_format(3), None);
        assert_eq!(ec_curve_type(3), Some("named_curve"));
    }

    #[test]
    fn handshake_types_have_iana_and_rfc_names() {
        let expected: [(u8, &str, &str); 25] = [
            (0, "hello_request", "HelloRequest"),
            (1, "client_hello", "ClientHello"),
            (2, "server_hello", "ServerHello"),
            (3, "hello_verify_request", "HelloVerifyRequest"),
            (4, "new_session_ticket", "NewSessionTicket"),
            (5, "end_of_early_data", "EndOfEarlyData"),
            (6, "hello_retry_request_RESERVED", "HelloRetryRequest"),
            (8, "encrypted_extensions", "EncryptedExtensions"),
            (9, "request_connection_id", "RequestConnectionId"),
            (10, "new_connection_id", "NewConnectionId"),
            (11, "certificate", "Certificate"),
            (12, "server_key_exchange", "ServerKeyExchange"),
            (13, "certificate_request", "CertificateRequest"),
            (14, "server_hello_done", "ServerHelloDone"),
            (15, "certificate_verify", "CertificateVerify"),
            (16, "client_key_exchange", "ClientKeyExchange"),
            (17, "client_certificate_request", "ClientCertificateRequest"),
            (20, "finished", "Finished"),
            (21, "certificate_url", "CertificateURL"),
            (22, "certificate_status", "CertificateStatus"),
            (23, "supplemental_data", "SupplementalData"),
            (24, "key_update", "KeyUpdate"),
            (25, "compressed_certificate", "CompressedCertificate"),
            (26, "ekt_key", "EKTKey"),
            (254, "message_hash", "MessageHash"),
        ];
        assert_eq!(HANDSHAKE_TYPES.len(), expected.len());
        for (id, iana, camel) in expected {
            assert_eq!(handshake_type(id), Some(iana), "{id}");
            assert_eq!(handshake_type_camel(id), Some(camel), "{id}");
        }
        assert_eq!(handshake_type(7), None);
        assert_eq!(handshake_type_camel(255), None);
    }

    #[test]
    fn names_versions() {
        assert_eq!(version(0x0300), Some("SSL 3.0"));
        assert_eq!(version(0x0301), Some("TLS 1.0"));
        assert_eq!(version(0x0302), Some("TLS 1.1"));
        assert_eq!(version(0x0303), Some("TLS 1.2"));
        assert_eq!(version(0x0304), Some("TLS 1.3"));
        assert_eq!(version(0xfeff), Some("DTLS 1.0"));
        assert_eq!(version(0xfefd), Some("DTLS 1.2"));
        assert_eq!(version(0xfefc), Some("DTLS 1.3"));
        assert_eq!(version(0x7f1c), None, "TLS 1.3 drafts are not named");
        assert_eq!(version(0x0a0a), None);
    }

    #[test]
    fn detects_all_sixteen_grease_values_and_nothing_else() {
        let grease: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        let expected: Vec<u16> = (0..16).map(|i| 0x0a0a + 0x1010 * i).collect();
        assert_eq!(grease, expected);
        assert_eq!(expected.first(), Some(&0x0a0a));
        assert_eq!(expected.last(), Some(&0xfafa));
        assert!(!is_grease(0x0a0b));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1a0a));
    }

    #[test]
    fn describes_known_grease_and_unknown_values() {
        assert_eq!(describe(named_group(0x001d), 0x001d, 4), "x25519 (0x001d)");
        assert_eq!(
            describe(cipher_suite(0x1301).map(|s| s.name), 0x1301, 4),
            "TLS_AES_128_GCM_SHA256 (0x1301)"
        );
        assert_eq!(describe(extension_type(0x1a1a), 0x1a1a, 4), "GREASE (0x1a1a)");
        assert_eq!(describe(named_group(0x1234), 0x1234, 4), "unknown (0x1234)");
        assert_eq!(describe(alert_description(40), 40, 2), "handshake_failure (0x28)");
        assert_eq!(describe(content_type(99), 99, 2), "unknown (0x63)");
    }
}
