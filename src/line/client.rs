//! A small typed client for the LINE Messaging API on reqwest (the same client,
//! and so the same connection pool and TLS stack, as the Telegram side).

use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::model::Secret;

pub const DEFAULT_API: &str = "https://api.line.me";
pub const DEFAULT_DATA_API: &str = "https://api-data.line.me";
/// Recipients per multicast call.
pub use crate::domain::notice::MULTICAST_MAX as MAX_MULTICAST;

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("LINE answered {status}: {body}")]
    Api {
        status: StatusCode,
        body: String,
        request_id: Option<String>,
    },
    #[error("could not reach LINE: {0}")]
    Network(reqwest::Error),
}

impl From<reqwest::Error> for LineError {
    /// Without the URL: LINE's URLs carry user ids, which must not reach logs.
    fn from(e: reqwest::Error) -> LineError {
        LineError::Network(e.without_url())
    }
}

impl LineError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            LineError::Api { status, .. } => Some(*status),
            LineError::Network(_) => None,
        }
    }

    /// A 429 saying this month's message quota is used up (not the rate limit,
    /// which is worth retrying soon).
    pub fn monthly_limit(&self) -> bool {
        matches!(self, LineError::Api { status, body, .. }
            if *status == StatusCode::TOO_MANY_REQUESTS
                && crate::domain::quota::is_monthly_limit(body))
    }
}

/// What taem reads of a LINE profile: only the app's language (the display
/// name, picture and status message are not read, so never kept).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub language: Option<String>,
}

#[derive(Clone)]
pub struct LineClient {
    http: Client,
    api: Url,
    data_api: Url,
    token: Secret,
}

impl LineClient {
    /// `api_url` overrides both the API and the data API host (tests).
    pub fn new(http: Client, token: Secret, api_url: Option<Url>) -> LineClient {
        let (api, data_api) = match api_url {
            Some(u) => (u.clone(), u),
            None => (
                DEFAULT_API.parse().expect("valid"),
                DEFAULT_DATA_API.parse().expect("valid"),
            ),
        };
        LineClient {
            http,
            api,
            data_api,
            token,
        }
    }

    fn url(base: &Url, path: &str) -> Url {
        base.join(path).expect("valid path")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, LineError> {
        let res = req.bearer_auth(self.token.expose()).send().await?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let request_id = res
            .headers()
            .get("x-line-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = res.text().await.unwrap_or_default();
        Err(LineError::Api {
            status,
            body,
            request_id,
        })
    }

    /// Replies with a reply token (free; valid once, for a short time).
    pub async fn reply(&self, reply_token: &str, messages: &[Value]) -> Result<(), LineError> {
        let body = json!({"replyToken": reply_token, "messages": messages});
        self.send(
            self.http
                .post(Self::url(&self.api, "/v2/bot/message/reply"))
                .json(&body),
        )
        .await?;
        Ok(())
    }

    /// Pushes to one user. The retry key makes a retried push count once; LINE
    /// answers 409 when it was already accepted, which counts as sent.
    pub async fn push(
        &self,
        to: &str,
        messages: &[Value],
        retry_key: &str,
    ) -> Result<(), LineError> {
        let body = json!({"to": to, "messages": messages});
        match self
            .send(
                self.http
                    .post(Self::url(&self.api, "/v2/bot/message/push"))
                    .header("X-Line-Retry-Key", retry_key)
                    .json(&body),
            )
            .await
        {
            Err(LineError::Api { status, .. }) if status == StatusCode::CONFLICT => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Sends the same messages to up to 500 users in one call, with a retry key
    /// so a retried chunk is never delivered twice (409 = already accepted).
    pub async fn multicast(
        &self,
        to: &[String],
        messages: &[Value],
        retry_key: &str,
    ) -> Result<(), LineError> {
        assert!(
            to.len() <= MAX_MULTICAST,
            "LINE multicasts to at most 500 users"
        );
        let body = json!({"to": to, "messages": messages});
        match self
            .send(
                self.http
                    .post(Self::url(&self.api, "/v2/bot/message/multicast"))
                    .header("X-Line-Retry-Key", retry_key)
                    .json(&body),
            )
            .await
        {
            Err(LineError::Api { status, .. }) if status == StatusCode::CONFLICT => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// This month's message quota and what was used of it: `(limit, used)`;
    /// `limit` is `None` on plans without a limit.
    pub async fn quota(&self) -> Result<(Option<u64>, u64), LineError> {
        let q: Value = self
            .send(self.http.get(Self::url(&self.api, "/v2/bot/message/quota")))
            .await?
            .json()
            .await?;
        let used: Value = self
            .send(
                self.http
                    .get(Self::url(&self.api, "/v2/bot/message/quota/consumption")),
            )
            .await?
            .json()
            .await?;
        let limit = (q["type"] == "limited")
            .then(|| q["value"].as_u64())
            .flatten();
        Ok((limit, used["totalUsage"].as_u64().unwrap_or(0)))
    }

    /// The Official Account's basic ID (`@123abcde`), for invitation links.
    pub async fn basic_id(&self) -> Result<String, LineError> {
        let v: Value = self
            .send(self.http.get(Self::url(&self.api, "/v2/bot/info")))
            .await?
            .json()
            .await?;
        Ok(v["basicId"].as_str().unwrap_or_default().to_string())
    }

    pub async fn profile(&self, user_id: &str) -> Result<Profile, LineError> {
        let res = self
            .send(
                self.http
                    .get(Self::url(&self.api, &format!("/v2/bot/profile/{user_id}"))),
            )
            .await?;
        Ok(res.json().await?)
    }

    /// Creates a rich menu; returns its id.
    pub async fn create_rich_menu(&self, menu: &Value) -> Result<String, LineError> {
        let res = self
            .send(
                self.http
                    .post(Self::url(&self.api, "/v2/bot/richmenu"))
                    .json(menu),
            )
            .await?;
        let v: Value = res.json().await?;
        Ok(v["richMenuId"].as_str().unwrap_or_default().to_string())
    }

    pub async fn upload_rich_menu_image(&self, id: &str, png: Vec<u8>) -> Result<(), LineError> {
        self.send(
            self.http
                .post(Self::url(
                    &self.data_api,
                    &format!("/v2/bot/richmenu/{id}/content"),
                ))
                .header("content-type", "image/png")
                .body(png),
        )
        .await?;
        Ok(())
    }

    pub async fn set_default_rich_menu(&self, id: &str) -> Result<(), LineError> {
        self.send(self.http.post(Self::url(
            &self.api,
            &format!("/v2/bot/user/all/richmenu/{id}"),
        )))
        .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::service::quota::QuotaSource for LineClient {
    async fn read_quota(&self) -> Result<(Option<u64>, u64), String> {
        self.quota().await.map_err(|e| e.to_string())
    }
}
