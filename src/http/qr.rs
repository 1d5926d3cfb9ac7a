//! QR images at short-lived sealed URLs (`/qr/<token>.png`), for platforms that
//! take images only by URL (LINE). The token is the data and its expiry,
//! encrypted and authenticated (XChaCha20-Poly1305) with a key of its own,
//! derived from the server's secret and used for nothing else: the URL does
//! not show the member or voucher code, cannot be forged or altered, and stops
//! working after [`TTL_MINUTES`]. No state is kept, so any taem instance
//! sharing the secret can serve it.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::time::now;

/// How long an image URL works.
pub const TTL_MINUTES: i64 = 60;

/// Separates this key from every other use of the server secret.
const KEY_PURPOSE: &[u8] = b"taem/qr-image-url/v1";

#[derive(Clone)]
pub struct QrUrls {
    base: reqwest::Url,
    cipher: XChaCha20Poly1305,
}

impl QrUrls {
    /// URLs under `base`, sealed with a key derived from `server_secret`.
    pub fn new(base: reqwest::Url, server_secret: &str) -> QrUrls {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(server_secret.as_bytes())
            .expect("any key length");
        mac.update(KEY_PURPOSE);
        let key = mac.finalize().into_bytes();
        QrUrls {
            base,
            cipher: XChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key"),
        }
    }

    /// The public URL of what taem serves at `path` (which starts with `/`).
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The public URL of a QR image of `data`, valid for [`TTL_MINUTES`].
    pub fn url(&self, data: &str, now: DateTime<Utc>) -> String {
        let expires = (now + Duration::minutes(TTL_MINUTES)).timestamp();
        let plain = format!("{expires}.{data}");
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plain.as_bytes())
            .expect("encryption in memory cannot fail");
        let mut token = nonce.to_vec();
        token.extend_from_slice(&sealed);
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}/qr/{}.png", URL_SAFE_NO_PAD.encode(token))
    }

    /// The data of a genuine, unexpired token.
    pub fn verify(&self, file: &str, now: DateTime<Utc>) -> Option<String> {
        let token = URL_SAFE_NO_PAD.decode(file.strip_suffix(".png")?).ok()?;
        if token.len() < 24 {
            return None;
        }
        let (nonce, sealed) = token.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&XNonce::from(nonce), sealed).ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let (expires, data) = plain.split_once('.')?;
        if expires.parse::<i64>().ok()? < now.timestamp() {
            return None;
        }
        Some(data.to_string())
    }
}

pub async fn image(State(urls): State<Option<QrUrls>>, Path(file): Path<String>) -> Response {
    let Some(data) = urls.as_ref().and_then(|u| u.verify(&file, now())) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match crate::service::qr::png(&data, 512) {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            png,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn urls(secret: &str) -> QrUrls {
        QrUrls::new("https://taem.example/".parse().unwrap(), secret)
    }

    #[test]
    fn urls_work_until_they_expire_and_do_not_show_the_code() {
        let q = urls(SECRET);
        let t = now();
        let url = q.url("TAEM-VOUCHER-ABCDE23456", t);
        assert!(!url.contains("ABCDE23456"), "{url}");
        let encoded = URL_SAFE_NO_PAD.encode("TAEM-VOUCHER-ABCDE23456");
        assert!(!url.contains(&encoded[..12]), "{url}");
        let file = url.rsplit('/').next().unwrap();
        assert_eq!(
            q.verify(file, t).as_deref(),
            Some("TAEM-VOUCHER-ABCDE23456")
        );
        assert_eq!(q.verify(file, t + Duration::minutes(61)), None);
        assert_ne!(q.url("X", t), q.url("X", t), "a fresh nonce every time");
    }

    #[test]
    fn tokens_cannot_be_altered_or_made_with_another_key() {
        let q = urls(SECRET);
        let t = now();
        let url = q.url("ABCDE23456", t);
        let file = url.rsplit('/').next().unwrap();
        let mut bytes = URL_SAFE_NO_PAD
            .decode(file.strip_suffix(".png").unwrap())
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("{}.png", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(q.verify(&altered, t), None);
        assert_eq!(
            urls("another-secret-of-32-characters!").verify(file, t),
            None
        );
        assert_eq!(q.verify("garbage.png", t), None);
        assert_eq!(q.verify(".png", t), None);
    }
}
