//! The booking endpoint in the test's own process, on a free port, the way `serve` runs it.

use datenwart::http::{self, ServeConfig};
use datenwart::ops::Context;
use std::sync::Arc;

/// A running endpoint; it stops when dropped.
pub struct Server {
    pub url: String,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves `ctx` with `config` on 127.0.0.1 and a free port.
pub async fn spawn(ctx: Context, config: ServeConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(http::serve(listener, Arc::new(ctx), config, async {
        let _ = stopped.await;
    }));
    Server {
        url,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

/// The default configuration without the per-IP rate limit.
pub fn unlimited() -> ServeConfig {
    ServeConfig {
        attempts_per_minute: 0,
        ..ServeConfig::default()
    }
}
