//! QR images at short-lived signed URLs (`/qr/<token>.png`), for platforms that
//! take images only by URL (LINE). The token carries the data and an expiry,
//! signed with HMAC-SHA256, so no state is kept and any taem instance sharing
//! the key can serve it.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::model::Secret;
use crate::domain::time::now;

/// How long an image URL works.
pub const TTL_MINUTES: i64 = 60;

#[derive(Clone)]
pub struct QrUrls {
    base: reqwest::Url,
    key: Secret,
}

impl QrUrls {
    pub fn new(base: reqwest::Url, key: Secret) -> QrUrls {
        QrUrls { base, key }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose().as_bytes()).expect("any");
        mac.update(b"taem-qr:");
        mac.update(payload.as_bytes());
        mac
    }

    /// The public URL of a QR image of `data`, valid for [`TTL_MINUTES`].
    pub fn url(&self, data: &str, now: DateTime<Utc>) -> String {
        let payload = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(data),
            (now + Duration::minutes(TTL_MINUTES)).timestamp()
        );
        let sig = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}/qr/{payload}.{sig}.png")
    }

    /// The data of a valid, unexpired token.
    pub fn verify(&self, file: &str, now: DateTime<Utc>) -> Option<String> {
        let token = file.strip_suffix(".png")?;
        let (payload, sig) = token.rsplit_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(payload).verify_slice(&sig).ok()?;
        let (data, exp) = payload.split_once('.')?;
        if exp.parse::<i64>().ok()? < now.timestamp() {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(data).ok()?).ok()
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

    #[test]
    fn urls_verify_until_they_expire_and_cannot_be_forged() {
        let q = QrUrls::new("https://taem.example/".parse().unwrap(), Secret::new("k"));
        let t = now();
        let url = q.url("ABCDE23456", t);
        let file = url.rsplit('/').next().unwrap();
        assert_eq!(q.verify(file, t).as_deref(), Some("ABCDE23456"));
        assert_eq!(q.verify(file, t + Duration::minutes(61)), None);
        let forged = file.replacen('Q', "R", 1);
        assert_eq!(q.verify(&forged, t), None);
        let other = QrUrls::new("https://taem.example/".parse().unwrap(), Secret::new("x"));
        assert_eq!(other.verify(file, t), None);
    }
}
