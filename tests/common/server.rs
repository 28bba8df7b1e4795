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
    super::install_crypto_provider();
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

/// The default configuration without the per-IP rate limit, serving every shipped tenant
/// (two of them list their DPO under `confirm`).
pub fn unlimited() -> ServeConfig {
    ServeConfig {
        attempts_per_minute: 0,
        allow_unconfirmed: true,
        ..ServeConfig::default()
    }
}

/// `datenwart serve` as a real process on a free port, with the shipped policies; killed
/// if the test ends before stopping it.
pub struct ServeProcess {
    child: std::process::Child,
    /// `host:port`.
    pub addr: String,
}

impl ServeProcess {
    /// Starts `serve` on the database at `db_url` with extra `flags`, and waits for its
    /// first line, which names the port.
    pub fn start(db_url: &str, flags: &[&str]) -> ServeProcess {
        super::install_crypto_provider();
        use std::io::{BufRead, BufReader};
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        let mut child = super::cli::command(db_url, &super::shipped_policies(), &args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start datenwart serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        ServeProcess { child, addr }
    }

    /// The full URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
