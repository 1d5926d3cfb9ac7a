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

/// How long a link to download a member's data works.
pub const DATA_TTL_MINUTES: i64 = 15;

/// Separate each key from every other use of the server secret.
const KEY_PURPOSE: &[u8] = b"taem/qr-image-url/v1";
const DATA_KEY_PURPOSE: &[u8] = b"taem/member-data-url/v1";

#[derive(Clone)]
pub struct QrUrls {
    base: reqwest::Url,
    cipher: XChaCha20Poly1305,
    /// For links to a member's data (PDPA export), a key of their own.
    data: XChaCha20Poly1305,
}

fn cipher(server_secret: &str, purpose: &[u8]) -> XChaCha20Poly1305 {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(server_secret.as_bytes())
        .expect("any key length");
    mac.update(purpose);
    let key = mac.finalize().into_bytes();
    XChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key")
}

/// `data` and its expiry, sealed: a token for a URL.
fn seal(cipher: &XChaCha20Poly1305, data: &str, expires: DateTime<Utc>) -> String {
    let plain = format!("{}.{data}", expires.timestamp());
    let nonce: [u8; 24] = rand::random();
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), plain.as_bytes())
        .expect("encryption in memory cannot fail");
    let mut token = nonce.to_vec();
    token.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(token)
}

/// The data of a genuine, unexpired token.
fn open(cipher: &XChaCha20Poly1305, token: &str, now: DateTime<Utc>) -> Option<String> {
    let token = URL_SAFE_NO_PAD.decode(token).ok()?;
    if token.len() < 24 {
        return None;
    }
    let (nonce, sealed) = token.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let plain = cipher.decrypt(&XNonce::from(nonce), sealed).ok()?;
    let plain = String::from_utf8(plain).ok()?;
    let (expires, data) = plain.split_once('.')?;
    if expires.parse::<i64>().ok()? < now.timestamp() {
        return None;
    }
    Some(data.to_string())
}

impl QrUrls {
    /// URLs under `base`, sealed with keys derived from `server_secret`.
    pub fn new(base: reqwest::Url, server_secret: &str) -> QrUrls {
        QrUrls {
            base,
            cipher: cipher(server_secret, KEY_PURPOSE),
            data: cipher(server_secret, DATA_KEY_PURPOSE),
        }
    }

    /// A link to download a member's data (their own, asked for in chat),
    /// valid for [`DATA_TTL_MINUTES`].
    pub fn data_url(&self, member_id: i64, now: DateTime<Utc>) -> String {
        let token = seal(
            &self.data,
            &member_id.to_string(),
            now + Duration::minutes(DATA_TTL_MINUTES),
        );
        self.public(&format!("/my-data/{token}.json"))
    }

    /// The member of a genuine, unexpired data link.
    pub fn verify_data(&self, file: &str, now: DateTime<Utc>) -> Option<i64> {
        open(&self.data, file.strip_suffix(".json")?, now)?
            .parse()
            .ok()
    }

    /// The public URL of what taem serves at `path` (which starts with `/`).
    pub fn public(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The public URL of a QR image of `data`, valid for [`TTL_MINUTES`].
    pub fn url(&self, data: &str, now: DateTime<Utc>) -> String {
        let token = seal(&self.cipher, data, now + Duration::minutes(TTL_MINUTES));
        self.public(&format!("/qr/{token}.png"))
    }

    /// The data of a genuine, unexpired token.
    pub fn verify(&self, file: &str, now: DateTime<Utc>) -> Option<String> {
        open(&self.cipher, file.strip_suffix(".png")?, now)
    }
}

/// A member's data, from a link made for them in chat (LINE, which takes no
/// files): made again now, never kept; an erased member's is gone.
pub async fn member_data(
    State((urls, loyalty)): State<(Option<QrUrls>, std::sync::Arc<crate::service::Loyalty>)>,
    Path(file): Path<String>,
) -> Response {
    let t = now();
    let Some(member_id) = urls.as_ref().and_then(|u| u.verify_data(&file, t)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match loyalty.personal_data(member_id, t).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"my-data.json\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(crate::service::ServiceError::NotFound(_)) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "member data download failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
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
    fn data_links_name_a_member_only_to_taem_and_only_for_a_while() {
        let q = urls(SECRET);
        let t = now();
        let url = q.data_url(4_217, t);
        assert!(url.starts_with("https://taem.example/my-data/"), "{url}");
        assert!(!url.contains("4217"), "{url}");
        let file = url.rsplit('/').next().unwrap();
        assert_eq!(q.verify_data(file, t), Some(4_217));
        assert_eq!(q.verify_data(file, t + Duration::minutes(16)), None);
        // A QR token is no data link, and the other way round.
        let qr = q.url("4217", t);
        let qr_file = qr.rsplit('/').next().unwrap().replace(".png", ".json");
        assert_eq!(q.verify_data(&qr_file, t), None);
        assert_eq!(q.verify(&file.replace(".json", ".png"), t), None);
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
