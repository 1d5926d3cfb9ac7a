//! The merchant webhook signature, `X-Taem-Signature: t=<unix seconds>,v2=<hex>`:
//!
//! - `v2` = hex HMAC-SHA256(secret, `"<t>.<METHOD>.<path>.<raw body>"`): bound to
//!   the request line, so a signature captured for one voucher, path or method is
//!   refused on any other;
//! - `v1` = hex HMAC-SHA256(secret, `"<t>.<raw body>"`): the first version, still
//!   accepted during the transition where the body names what it acts on
//!   (purchases and refunds name their receipt; a voucher use must name the
//!   voucher in its body, see `http::use_voucher`), unless switched off with
//!   `TAEM_SIGNATURE_V1=refuse`.
//!
//! Several values may be sent while a secret is being rotated; one match is
//! enough. Comparison is constant time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signatures older or newer than this are rejected (replay protection).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature was refused. The answer to the client is the same for every
/// one of them ([`SignatureError::PUBLIC`]); the variant is for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Taem-Signature header is missing")]
    Missing,
    #[error("the X-Taem-Signature header must look like t=<unix seconds>,v2=<hex>")]
    Malformed,
    #[error("the signature timestamp is more than 300 seconds away from the server's clock")]
    Stale,
    #[error("the signature does not match the request and the merchant's webhook secret")]
    Mismatch,
}

impl SignatureError {
    /// What every refused request is told: the same words whatever went wrong,
    /// so a caller learns nothing about merchant ids or secrets by probing.
    pub const PUBLIC: &'static str = "the request is not signed for this merchant: send \
        X-Taem-Merchant and X-Taem-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256 of \
        \"<t>.<METHOD>.<path>.<body>\" with the merchant's webhook secret>, within 300 seconds \
        of the server's clock";
}

/// Which version of the scheme a request was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// What a signature covers: the request line and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

fn mac(secret: &str, timestamp: i64, version: Version, req: &Request<'_>) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    if version == Version::V2 {
        mac.update(req.method.to_ascii_uppercase().as_bytes());
        mac.update(b".");
        mac.update(req.path.as_bytes());
        mac.update(b".");
    }
    mac.update(req.body);
    mac
}

/// The header value (version 2) for `req` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, req: &Request<'_>) -> String {
    let sig = mac(secret, timestamp, Version::V2, req)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v2={}", hex::encode(sig))
}

/// The header value of the first version (body only), for integrations that
/// have not moved to version 2 yet.
pub fn sign_v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let req = Request {
        method: "",
        path: "",
        body,
    };
    let sig = mac(secret, timestamp, Version::V1, &req)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

/// Checks a header value against the request, before anything parses the body.
/// `secrets` are the merchant's current secret and, during a rotation's grace
/// period, the previous one. Returns the version that matched (v2 preferred).
pub fn verify(
    header: Option<&str>,
    secrets: &[&str],
    req: &Request<'_>,
    now: i64,
) -> Result<Version, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => {
                timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => candidates.push((
                Version::V1,
                hex::decode(v).map_err(|_| SignatureError::Malformed)?,
            )),
            Some(("v2", v)) => candidates.push((
                Version::V2,
                hex::decode(v).map_err(|_| SignatureError::Malformed)?,
            )),
            Some(_) => {} // other schemes, ignored
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Checked: a timestamp near i64::MIN must not overflow.
    let fresh = now
        .checked_sub(timestamp)
        .and_then(i64::checked_abs)
        .is_some_and(|d| d <= TOLERANCE_SECS);
    if !fresh {
        return Err(SignatureError::Stale);
    }
    for version in [Version::V2, Version::V1] {
        for secret in secrets {
            let expected = mac(secret, timestamp, version, req);
            if candidates
                .iter()
                .filter(|(v, _)| *v == version)
                .any(|(_, c)| expected.clone().verify_slice(c).is_ok())
            {
                return Ok(version);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const NOW: i64 = 1_795_000_000;

    fn post<'a>(path: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method: "POST",
            path,
            body,
        }
    }

    #[test]
    fn a_signed_request_verifies() {
        let req = post("/v1/purchases", b"{\"a\":1}");
        let h = sign(SECRET, NOW, &req);
        assert_eq!(verify(Some(&h), &[SECRET], &req, NOW + 10), Ok(Version::V2));
    }

    #[test]
    fn known_answers() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let v1 = sign_v1(SECRET, 1_700_000_000, b"{}");
        assert_eq!(
            v1,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
        // printf '1700000000.POST./v1/vouchers/ABCDE23456/use.' | openssl dgst -sha256 -hmac whsec_test
        let v2 = sign(
            SECRET,
            1_700_000_000,
            &post("/v1/vouchers/ABCDE23456/use", b""),
        );
        assert_eq!(
            v2,
            "t=1700000000,v2=54b7f2320065329d7c0dddb31237dbdc4b015257be7ebb41a9c33de5f1527b7d"
        );
    }

    #[test]
    fn a_v2_signature_is_bound_to_its_method_and_path() {
        let a = post("/v1/vouchers/AAAAAAAAAA/use", b"");
        let h = sign(SECRET, NOW, &a);
        let b = post("/v1/vouchers/BBBBBBBBBB/use", b"");
        assert_eq!(
            verify(Some(&h), &[SECRET], &b, NOW),
            Err(SignatureError::Mismatch)
        );
        let get = Request { method: "GET", ..a };
        assert_eq!(
            verify(Some(&h), &[SECRET], &get, NOW),
            Err(SignatureError::Mismatch)
        );
        // A v1 signature of the same body is accepted as v1 only (the caller
        // decides whether v1 is enough).
        let v1 = sign_v1(SECRET, NOW, b"");
        assert_eq!(verify(Some(&v1), &[SECRET], &b, NOW), Ok(Version::V1));
    }

    #[test]
    fn tampering_staleness_and_garbage_are_rejected() {
        let req = post("/p", b"body");
        let h = sign(SECRET, NOW, &req);
        let tampered = post("/p", b"bodY");
        assert_eq!(
            verify(Some(&h), &[SECRET], &tampered, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), &["other"], &req, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), &[SECRET], &req, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h), &[SECRET], &req, NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, &[SECRET], &req, NOW),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=1", "v2=00", "t=x,v2=00", "t=1,v2=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), &[SECRET], &req, NOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Timestamps at the ends of the range do not overflow.
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let h = format!("t={t},v2={}", "00".repeat(32));
            assert_eq!(
                verify(Some(&h), &[SECRET], &req, NOW),
                Err(SignatureError::Stale)
            );
        }
    }

    #[test]
    fn during_a_rotation_either_secret_and_any_of_several_signatures_may_match() {
        let req = post("/p", b"x");
        let good = sign(SECRET, NOW, &req);
        let v2 = good.split("v2=").nth(1).unwrap();
        let h = format!("t={NOW},v2={},v2={v2}", "00".repeat(32));
        assert_eq!(verify(Some(&h), &[SECRET], &req, NOW), Ok(Version::V2));
        assert_eq!(
            verify(Some(&good), &["new-secret", SECRET], &req, NOW),
            Ok(Version::V2)
        );
    }
}
