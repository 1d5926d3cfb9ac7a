//! The merchant webhook signature:
//! `X-Taem-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//! Several `v1=` values may be sent while a secret is being rotated; one match is
//! enough. Comparison is constant time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signatures older or newer than this are rejected (replay protection).
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Taem-Signature header is missing")]
    Missing,
    #[error("the X-Taem-Signature header must look like t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is more than 300 seconds away from the server's clock")]
    Stale,
    #[error("the signature does not match the body and the merchant's webhook secret")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let sig = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(sig))
}

/// Checks a header value against the raw body, before anything parses the body.
pub fn verify(
    header: Option<&str>,
    secret: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => {
                timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            Some(_) => {} // other schemes, ignored
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_signed_body_verifies() {
        let h = sign(SECRET, NOW, b"{\"a\":1}");
        assert_eq!(verify(Some(&h), SECRET, b"{\"a\":1}", NOW + 10), Ok(()));
    }

    #[test]
    fn known_answer() {
        // echo -n '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let h = sign(SECRET, 1_700_000_000, b"{}");
        assert_eq!(
            h,
            format!(
                "t=1700000000,v1={}",
                "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
            )
        );
    }

    #[test]
    fn tampering_staleness_and_garbage_are_rejected() {
        let h = sign(SECRET, NOW, b"body");
        assert_eq!(
            verify(Some(&h), SECRET, b"bodY", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), "other", b"body", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), SECRET, b"body", NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h), SECRET, b"body", NOW - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, SECRET, b"body", NOW),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), SECRET, b"body", NOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_of_several_signatures_may_match_during_rotation() {
        let good = sign(SECRET, NOW, b"x");
        let v1 = good.split("v1=").nth(1).unwrap();
        let h = format!("t={NOW},v1={},v1={v1}", "00".repeat(32));
        assert_eq!(verify(Some(&h), SECRET, b"x", NOW), Ok(()));
    }
}
