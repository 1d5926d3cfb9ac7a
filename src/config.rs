//! Settings from the environment (and `.env` when present), validated once at
//! start. Errors name the variable at fault; secrets never reach logs or `Debug`.

use std::fmt;
use std::net::SocketAddr;

use chrono_tz::Tz;

use crate::domain::guess::GuessPolicy;
use crate::domain::model::Secret;
use crate::domain::notice::QuietHours;
use crate::i18n::Locale;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://taem.db";

#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    /// A PostgreSQL replica the reports and exports read from
    /// (`TAEM_REPLICA_URL`), so heavy reading never slows the tills.
    pub replica_url: Option<String>,
    pub http_addr: SocketAddr,
    pub timezone: Tz,
    pub default_locale: Locale,
    /// Set when `TELEGRAM_BOT_TOKEN` is.
    pub telegram: Option<TelegramSettings>,
    /// Set when `LINE_CHANNEL_SECRET` and `LINE_CHANNEL_ACCESS_TOKEN` are.
    pub line: Option<LineSettings>,
    /// The public base URL of this server (images for LINE are served under it).
    pub public_url: Option<reqwest::Url>,
    /// Bearer token of the admin API (`/admin/v1`); without it the API is off.
    pub admin_token: Option<Secret>,
    /// `GET /metrics` asks for this bearer token when set (`TAEM_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
    /// Pushes the worker may send to Telegram per second, overall.
    pub telegram_rate: u32,
    /// Requests the worker may send to LINE per second.
    pub line_rate: u32,
    /// Local hours without marketing pushes; `None` for none.
    pub quiet_hours: Option<QuietHours>,
    /// How long a push worker holds the notices it took: after a crash, another
    /// worker (or the restarted one) takes them over once this has passed.
    pub push_lease: std::time::Duration,
    /// How long a claimed chat event is held before another worker may take it
    /// (`TAEM_INBOX_LEASE_SECONDS`, default 120).
    pub inbox_lease: std::time::Duration,
    /// Time limits and caps of the HTTP server.
    pub http_limits: HttpLimits,
    /// Whether body-only (v1) merchant signatures are still accepted where the
    /// body names what the request acts on (`TAEM_SIGNATURE_V1=accept|refuse`).
    pub accept_v1_signatures: bool,
    /// The server's own secret (`TAEM_SECRET_KEY`), from which the key of QR
    /// image URLs is derived; without it taem makes one and keeps it in the
    /// database (shared by every instance).
    pub secret_key: Option<Secret>,
    /// How wrong claim and link codes are slowed down and then refused.
    pub guess_policy: GuessPolicy,
}

/// Time limits and caps of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A client must send the request's headers within this (`TAEM_HTTP_HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: std::time::Duration,
    /// A request (body included) must be answered within this, else 408
    /// (`TAEM_HTTP_REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: std::time::Duration,
    /// Connections served at once; more wait to be accepted (`TAEM_HTTP_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// On shutdown, connections still open after this are closed (`TAEM_SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: std::time::Duration::from_secs(10),
            request_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: std::time::Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct LineSettings {
    pub channel_secret: Secret,
    pub access_token: Secret,
    /// Messaging API base URL override (tests); default `https://api.line.me`.
    pub api_url: Option<reqwest::Url>,
}

impl fmt::Debug for LineSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineSettings")
            .field("channel_secret", &self.channel_secret)
            .field("access_token", &self.access_token)
            .field("api_url", &self.api_url.as_ref().map(|u| u.as_str()))
            .finish()
    }
}

fn line(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<LineSettings>, ConfigError> {
    match (get("LINE_CHANNEL_SECRET"), get("LINE_CHANNEL_ACCESS_TOKEN")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError {
            var: "LINE_CHANNEL_ACCESS_TOKEN",
            message: "is required with LINE_CHANNEL_SECRET".into(),
        }),
        (None, Some(_)) => Err(ConfigError {
            var: "LINE_CHANNEL_SECRET",
            message: "is required with LINE_CHANNEL_ACCESS_TOKEN".into(),
        }),
        (Some(secret), Some(token)) => Ok(Some(LineSettings {
            channel_secret: Secret::new(secret),
            access_token: Secret::new(token),
            api_url: get("LINE_API_URL")
                .map(|v| url("LINE_API_URL", &v))
                .transpose()?,
        })),
    }
}

#[derive(Clone)]
pub struct TelegramSettings {
    pub token: Secret,
    /// Bot API base URL override (self-hosted Bot API servers, tests).
    pub api_url: Option<reqwest::Url>,
    /// Public HTTPS URL Telegram posts updates to; long polling when `None`.
    pub webhook_url: Option<reqwest::Url>,
    /// Checked on every webhook request (`X-Telegram-Bot-Api-Secret-Token`).
    pub webhook_secret: Option<Secret>,
}

impl fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("token", &self.token)
            .field("api_url", &self.api_url.as_ref().map(|u| u.as_str()))
            .field(
                "webhook_url",
                &self.webhook_url.as_ref().map(|u| u.as_str()),
            )
            .field("webhook_secret", &self.webhook_secret)
            .finish()
    }
}

fn url(var: &'static str, value: &str) -> Result<reqwest::Url, ConfigError> {
    value.parse().map_err(|_| ConfigError {
        var,
        message: format!("{value:?} is not a URL"),
    })
}

fn telegram(
    get: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<TelegramSettings>, ConfigError> {
    let Some(token) = get("TELEGRAM_BOT_TOKEN") else {
        for var in ["TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET"] {
            if get(var).is_some() {
                return Err(ConfigError {
                    var,
                    message: "is set but TELEGRAM_BOT_TOKEN is not".into(),
                });
            }
        }
        return Ok(None);
    };
    if !token.contains(':') || token.chars().any(char::is_whitespace) {
        return Err(ConfigError {
            var: "TELEGRAM_BOT_TOKEN",
            message: "does not look like a bot token from @BotFather (123456:ABC...)".into(),
        });
    }
    let api_url = get("TELEGRAM_API_URL")
        .map(|v| url("TELEGRAM_API_URL", &v))
        .transpose()?;
    let webhook_url = get("TELEGRAM_WEBHOOK_URL")
        .map(|v| url("TELEGRAM_WEBHOOK_URL", &v))
        .transpose()?;
    let webhook_secret = get("TELEGRAM_WEBHOOK_SECRET");
    if let Some(s) = &webhook_secret
        && (s.len() < 32
            || s.len() > 256
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(ConfigError {
            var: "TELEGRAM_WEBHOOK_SECRET",
            message: "must be 32-256 characters of A-Z, a-z, 0-9, _ and - \
                      (e.g. openssl rand -hex 32)"
                .into(),
        });
    }
    if webhook_url.is_some() && webhook_secret.is_none() {
        return Err(ConfigError {
            var: "TELEGRAM_WEBHOOK_SECRET",
            message: "is required with TELEGRAM_WEBHOOK_URL (Telegram echoes it on every update)"
                .into(),
        });
    }
    Ok(Some(TelegramSettings {
        token: Secret::new(token),
        api_url,
        webhook_url,
        webhook_secret: webhook_secret.map(Secret::new),
    }))
}

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Reads `.env` (if any) and then the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        // A missing .env is normal; a malformed one is worth knowing about.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            return Err(ConfigError {
                var: ".env",
                message: e.to_string(),
            });
        }
        Settings::from_lookup(var)
    }

    /// Builds settings from any variable lookup (tests pass a map).
    pub fn from_lookup(
        get: impl Fn(&'static str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError {
                var: "DATABASE_URL",
                message: "must start with sqlite:, postgres:// or postgresql://".into(),
            });
        }
        let replica_url = get("TAEM_REPLICA_URL").filter(|v| !v.is_empty());
        if let Some(r) = &replica_url {
            let pg = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
            if !pg(r) || !pg(&database_url) {
                return Err(ConfigError {
                    var: "TAEM_REPLICA_URL",
                    message: "a PostgreSQL replica (postgres://…) of a PostgreSQL DATABASE_URL"
                        .into(),
                });
            }
        }
        let http_addr = match get("TAEM_HTTP_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.parse().map_err(|_| ConfigError {
                var: "TAEM_HTTP_ADDR",
                message: format!("{v:?} is not an address such as 127.0.0.1:8080"),
            })?,
        };
        let timezone = match get("TAEM_TIMEZONE") {
            None => chrono_tz::Asia::Bangkok,
            Some(v) => v.parse().map_err(|_| ConfigError {
                var: "TAEM_TIMEZONE",
                message: format!("{v:?} is not an IANA time zone such as Asia/Bangkok"),
            })?,
        };
        let default_locale = match get("TAEM_DEFAULT_LOCALE") {
            None => Locale::Th,
            Some(v) => Locale::parse(&v).ok_or_else(|| ConfigError {
                var: "TAEM_DEFAULT_LOCALE",
                message: format!("{v:?} is not a supported language; use th or en"),
            })?,
        };
        Ok(Settings {
            database_url,
            replica_url,
            http_addr,
            timezone,
            default_locale,
            telegram: telegram(&get)?,
            line: line(&get)?,
            public_url: get("TAEM_PUBLIC_URL")
                .map(|v| url("TAEM_PUBLIC_URL", &v))
                .transpose()?,
            telegram_rate: rate(&get, "TAEM_TELEGRAM_RATE", 25)?,
            line_rate: rate(&get, "TAEM_LINE_RATE", 100)?,
            push_lease: seconds(&get, "TAEM_PUSH_LEASE_SECONDS", 120, 5..=3600)?,
            inbox_lease: seconds(&get, "TAEM_INBOX_LEASE_SECONDS", 120, 1..=3600)?,
            quiet_hours: match get("TAEM_QUIET_HOURS") {
                None => Some(QuietHours::default()),
                Some(v) => QuietHours::parse(&v).ok_or_else(|| ConfigError {
                    var: "TAEM_QUIET_HOURS",
                    message: format!("{v:?} is not local hours such as 21-8, or off"),
                })?,
            },
            admin_token: long_secret(&get, "TAEM_ADMIN_TOKEN", 24)?,
            metrics_token: long_secret(&get, "TAEM_METRICS_TOKEN", 16)?,
            http_limits: HttpLimits {
                header_timeout: seconds(&get, "TAEM_HTTP_HEADER_TIMEOUT_SECONDS", 10, 1..=300)?,
                request_timeout: seconds(&get, "TAEM_HTTP_REQUEST_TIMEOUT_SECONDS", 30, 1..=600)?,
                max_connections: number(&get, "TAEM_HTTP_MAX_CONNECTIONS", 1024, 1..=100_000)?
                    as usize,
                shutdown_grace: seconds(&get, "TAEM_SHUTDOWN_GRACE_SECONDS", 10, 0..=300)?,
            },
            accept_v1_signatures: match get("TAEM_SIGNATURE_V1").as_deref().map(str::trim) {
                None | Some("accept") => true,
                Some("refuse") => false,
                Some(v) => {
                    return Err(ConfigError {
                        var: "TAEM_SIGNATURE_V1",
                        message: format!("{v:?} is neither accept nor refuse"),
                    });
                }
            },
            secret_key: long_secret(&get, "TAEM_SECRET_KEY", 32)?,
            guess_policy: {
                let free = number(&get, "TAEM_GUESS_FREE", 5, 1..=1000)? as u32;
                let limit = number(&get, "TAEM_GUESS_LIMIT", 10, 1..=10_000)? as u32;
                if limit < free {
                    return Err(ConfigError {
                        var: "TAEM_GUESS_LIMIT",
                        message: format!("must be at least TAEM_GUESS_FREE ({free})"),
                    });
                }
                let minutes = number(&get, "TAEM_GUESS_LOCKOUT_MINUTES", 60, 1..=10_080)?;
                GuessPolicy {
                    free,
                    limit,
                    lockout: chrono::Duration::minutes(minutes as i64),
                    ..GuessPolicy::default()
                }
            },
        })
    }
}

/// A secret of at least `min` characters, if set.
fn long_secret(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    min: usize,
) -> Result<Option<Secret>, ConfigError> {
    match get(var) {
        None => Ok(None),
        Some(s) if s.trim().len() < min => Err(ConfigError {
            var,
            message: format!("must be at least {min} characters (e.g. openssl rand -hex 32)"),
        }),
        Some(s) => Ok(Some(Secret::new(s.trim()))),
    }
}

/// A whole number in `range`, or `default` when the variable is not set.
fn number(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError {
                var,
                message: format!(
                    "{v:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
    }
}

fn seconds(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<std::time::Duration, ConfigError> {
    number(get, var, default, range).map(std::time::Duration::from_secs)
}

/// A sends-per-second limit: 1 to 10,000.
fn rate(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    number(get, var, u64::from(default), 1..=10_000).map(|r| r as u32)
}

/// Hides the password in a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("replica_url", &self.replica_url.as_deref().map(redact_url))
            .field("http_addr", &self.http_addr)
            .field("timezone", &self.timezone)
            .field("default_locale", &self.default_locale)
            .field("telegram", &self.telegram)
            .field("line", &self.line)
            .field("public_url", &self.public_url.as_ref().map(|u| u.as_str()))
            .field("admin_token", &self.admin_token)
            .field("metrics_token", &self.metrics_token)
            .field("telegram_rate", &self.telegram_rate)
            .field("line_rate", &self.line_rate)
            .field("quiet_hours", &self.quiet_hours)
            .field("push_lease", &self.push_lease)
            .field("inbox_lease", &self.inbox_lease)
            .field("http_limits", &self.http_limits)
            .field("accept_v1_signatures", &self.accept_v1_signatures)
            .field("secret_key", &self.secret_key)
            .field("guess_policy", &self.guess_policy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&'static str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<&str, String> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, "sqlite://taem.db");
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.timezone, chrono_tz::Asia::Bangkok);
        assert_eq!(s.default_locale, Locale::Th);
    }

    #[test]
    fn errors_name_the_bad_variable() {
        for (var, value) in [
            ("TAEM_HTTP_ADDR", "localhost"),
            ("TAEM_TIMEZONE", "Mars/Olympus"),
            ("TAEM_DEFAULT_LOCALE", "fr"),
            ("DATABASE_URL", "mysql://x"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn security_settings_are_checked() {
        let s = settings(&[]).unwrap();
        assert!(s.accept_v1_signatures);
        assert_eq!(s.http_limits, HttpLimits::default());
        assert_eq!(s.guess_policy, GuessPolicy::default());
        for (var, value) in [
            ("TAEM_SIGNATURE_V1", "maybe"),
            ("TAEM_SECRET_KEY", "too-short"),
            ("TAEM_HTTP_MAX_CONNECTIONS", "0"),
            ("TAEM_HTTP_HEADER_TIMEOUT_SECONDS", "ten"),
            ("TAEM_GUESS_LIMIT", "2"),
        ] {
            assert_eq!(settings(&[(var, value)]).unwrap_err().var, var, "{value}");
        }
        let s = settings(&[
            ("TAEM_SIGNATURE_V1", "refuse"),
            ("TAEM_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        assert!(!s.accept_v1_signatures);
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn telegram_is_enabled_by_its_token_and_validated() {
        assert!(settings(&[]).unwrap().telegram.is_none());
        let s = settings(&[("TELEGRAM_BOT_TOKEN", "123:abc")]).unwrap();
        assert!(
            s.telegram.unwrap().webhook_url.is_none(),
            "long polling by default"
        );
        let err = settings(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("TELEGRAM_WEBHOOK_URL", "https://bot.example.com/telegram"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "TELEGRAM_WEBHOOK_SECRET");
        let err = settings(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("TELEGRAM_WEBHOOK_SECRET", "no spaces"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "TELEGRAM_WEBHOOK_SECRET");
        let err = settings(&[
            ("TELEGRAM_BOT_TOKEN", "123:abc"),
            ("TELEGRAM_WEBHOOK_SECRET", "short_but_valid"),
        ])
        .unwrap_err();
        assert_eq!(
            err.var, "TELEGRAM_WEBHOOK_SECRET",
            "too short to resist guessing"
        );
        assert_eq!(
            settings(&[("TELEGRAM_BOT_TOKEN", "nocolon")])
                .unwrap_err()
                .var,
            "TELEGRAM_BOT_TOKEN"
        );
        let s = settings(&[("TELEGRAM_BOT_TOKEN", "123:topsecret")]).unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let s = settings(&[("DATABASE_URL", "postgres://taem:hunter2@db:5432/taem")]).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://taem:***@db:5432/taem"));
    }
}
