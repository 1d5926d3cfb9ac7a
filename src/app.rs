//! Wiring: builds the running application from settings, and runs it until a
//! shutdown signal. Tests build it on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::domain::time::now;
use crate::http::{self, AppState};
use crate::service::Loyalty;
use crate::store::{self, Store};

/// How often `serve` runs the expiry sweep.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(600);

pub struct Application {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    // Held for the life of the server (SQLite only): a second server fails.
    _guard: Option<std::fs::File>,
}

impl Application {
    /// Opens the database (migrating it), takes the single-server lock for
    /// SQLite, binds the HTTP address and starts serving and sweeping.
    pub async fn start(settings: &Settings) -> anyhow::Result<Application> {
        let guard = if store::is_postgres_url(&settings.database_url) {
            None
        } else {
            Some(store::sqlite::serve_guard(&settings.database_url)?)
        };
        let store = store::connect(&settings.database_url).await?;
        let loyalty = Arc::new(Loyalty::new(store.clone(), settings.timezone));
        let listener = http::bind(settings.http_addr)
            .await
            .map_err(|e| anyhow::anyhow!("TAEM_HTTP_ADDR {}: {e}", settings.http_addr))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let mut on_stop = stopped.clone();
        let server = tokio::spawn(http::serve(listener, AppState::new(loyalty), async move {
            let _ = on_stop.wait_for(|s| *s).await;
        }));
        let sweeper = tokio::spawn(sweep_periodically(store.clone(), stopped));
        Ok(Application {
            addr,
            store,
            stop,
            server,
            sweeper,
            _guard: guard,
        })
    }

    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.server.await??;
        self.sweeper.await?;
        Ok(())
    }
}

async fn sweep_periodically(store: Arc<dyn Store>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        // A failed sweep is retried at the next tick; it never stops the server.
        match store.expire_due(now()).await {
            Ok(s) if s.lots_expired + s.vouchers_expired > 0 => tracing::info!(
                lots = s.lots_expired,
                points = s.points_expired,
                vouchers = s.vouchers_expired,
                "expiry sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
