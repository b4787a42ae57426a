//! RSA arithmetic for display: `signature^e mod n` and the DigestInfo read
//! out of it (`hash_b`), shown beside the hash of the signed bytes
//! (`hash_a`). The verdict is never taken from here.

use num_bigint::BigUint;
use x509_parser::asn1_rs::{FromDer, Sequence};
use x509_parser::error::X509Error;
use x509_parser::x509::AlgorithmIdentifier;

use crate::tree::hex;

/// The largest RSA modulus the display arithmetic takes (aws-lc-rs stops
/// at 8192 bits for verdicts).
pub(super) const MAX_RSA_BITS: u64 = 16384;
/// The largest public exponent shown: real keys use 65537 (17 bits); a
/// hostile certificate could carry a modulus-sized one to make `modpow`
/// slow.
pub(super) const MAX_RSA_EXPONENT_BITS: u64 = 64;

/// `signature^e mod n`, as a big-endian byte string of the modulus length
/// (the encoded message EM of [RFC 8017 §8.2.2](https://www.rfc-editor.org/rfc/rfc8017#section-8.2.2)).
pub(super) fn rsa_recover(n: &[u8], e: &[u8], signature: &[u8]) -> Result<Vec<u8>, String> {
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    if n.bits() < 2 || n.bits() > MAX_RSA_BITS {
        return Err(format!("a modulus of {} bits is not shown", n.bits()));
    }
    if e.bits() > MAX_RSA_EXPONENT_BITS {
        return Err(format!("a public exponent of {} bits is not shown", e.bits()));
    }
    let s = BigUint::from_bytes_be(signature);
    if s >= n {
        return Err("the signature is not smaller than the modulus".into());
    }
    let m = s.modpow(&e, &n).to_bytes_be();
    let k = n.bits().div_ceil(8) as usize;
    let mut em = vec![0; k.saturating_sub(m.len())];
    em.extend_from_slice(&m);
    Ok(em)
}

/// Splits a PKCS#1 v1.5 type 1 block `00 01 FF..FF 00 T`: the count of FF
/// bytes and T. At least 8 FF bytes ([RFC 8017 §9.2](https://www.rfc-editor.org/rfc/rfc8017#section-9.2)).
pub(super) fn pkcs1_type1(em: &[u8]) -> Result<(usize, &[u8]), String> {
    let Some(rest) = em.strip_prefix(&[0x00, 0x01]) else {
        let head = em.get(..2).map(hex).unwrap_or_default();
        return Err(format!("starts with {head}, not 00 01"));
    };
    let ff = rest.iter().take_while(|b| **b == 0xff).count();
    let after = rest.get(ff..).unwrap_or_default();
    let Some(t) = after.strip_prefix(&[0x00]) else {
        return Err(format!("00 01 then {ff} FF bytes, not followed by 00"));
    };
    if ff < 8 {
        return Err(format!("only {ff} FF bytes (at least 8 are required)"));
    }
    Ok((ff, t))
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest
/// OCTET STRING }` ([RFC 8017 §9.2](https://www.rfc-editor.org/rfc/rfc8017#section-9.2)):
/// the hash OID and the digest.
pub(super) fn digest_info(t: &[u8]) -> Result<(String, Vec<u8>), String> {
    let parsed = Sequence::from_der_and_then(t, |i| {
        let (i, alg) = AlgorithmIdentifier::from_der(i)?;
        let (i, digest) =
            <&[u8]>::from_der(i).map_err(|e| x509_parser::nom::Err::Error(X509Error::from(e)))?;
        Ok((i, (alg.algorithm.to_id_string(), digest.to_vec(), i.is_empty())))
    });
    match parsed {
        Ok((rest, (oid, digest, inner_done))) if rest.is_empty() && inner_done => Ok((oid, digest)),
        Ok(_) => Err("trailing bytes after the DigestInfo".into()),
        Err(e) => Err(format!("not a DigestInfo: {e}")),
    }
}
