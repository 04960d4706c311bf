//! Kubo (IPFS), isolated: a fresh repository, offline, loopback only.

use std::{
    fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use ipfs_api_backend_hyper::{IpfsClient, TryFromUri};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{Toolchain, ToolchainError};

/// How long the daemon may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The configuration written over `ipfs init --profile=test`: no peers to
/// bootstrap from, no discovery, no routing, no autoconf or AutoTLS fetches,
/// no telemetry, and every listener on loopback with a kernel-chosen port.
fn isolation() -> [(&'static [&'static str], Value); 12] {
    let loopback = json!("/ip4/127.0.0.1/tcp/0");
    [
        (&["Bootstrap"], json!([])),
        (&["Discovery", "MDNS", "Enabled"], json!(false)),
        (&["Routing", "Type"], json!("none")),
        (&["AutoConf", "Enabled"], json!(false)),
        (&["AutoTLS", "Enabled"], json!(false)),
        (&["Swarm", "DisableNatPortMap"], json!(true)),
        (&["Addresses", "API"], loopback.clone()),
        (&["Addresses", "Gateway"], loopback.clone()),
        (&["Addresses", "Swarm"], json!([loopback])),
        (&["Addresses", "Announce"], json!([])),
        (&["Addresses", "AppendAnnounce"], json!([])),
        (&["Plugins", "Plugins", "telemetry", "Config", "Mode"], json!("off")),
    ]
}

/// A running Kubo daemon with its own temporary repository. Dropping it kills
/// the daemon and deletes the repository.
pub struct KuboNode {
    daemon: Daemon,
    api: SocketAddr,
    gateway: SocketAddr,
    client: IpfsClient,
    ipfs: PathBuf,
    // Declared last: removed after the daemon is gone.
    repo: TempDir,
}

impl KuboNode {
    /// Initialises a fresh repository, isolates it (see the module docs),
    /// starts `ipfs daemon --offline`, and returns once its RPC API answers
    /// `/api/v0/id`.
    pub async fn spawn(tools: &Toolchain) -> Result<Self, KuboError> {
        let ipfs = tools.ipfs()?;
        let repo =
            tempfile::Builder::new().prefix("medvault-kubo-").tempdir().map_err(KuboError::Repo)?;

        let init = ipfs_command(&ipfs, repo.path())
            .args(["init", "--profile=test", "--empty-repo"])
            .output()
            .map_err(KuboError::Spawn)?;
        if !init.status.success() {
            return Err(KuboError::Init {
                output: String::from_utf8_lossy(&init.stderr).into_owned(),
            });
        }
        isolate(&repo.path().join("config"))?;

        let log_path = repo.path().join("daemon.log");
        let log = fs::File::create(&log_path).map_err(KuboError::Repo)?;
        let stderr = log.try_clone().map_err(KuboError::Repo)?;
        // From here on, an early return drops `daemon`, which kills it.
        let mut daemon = Daemon(
            ipfs_command(&ipfs, repo.path())
                .args(["daemon", "--offline"])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(stderr)
                .spawn()
                .map_err(KuboError::Spawn)?,
        );
        let (api, gateway) = wait_until_listening(&mut daemon.0, &log_path).await?;
        let client = IpfsClient::from_str(&format!("http://{api}"))
            .map_err(|source| KuboError::Client { source: source.into() })?;
        let node = Self { daemon, api, gateway, client, ipfs, repo };
        node.identity().await?;
        Ok(node)
    }

    /// Asks the RPC API who the node is (`/api/v0/id`).
    ///
    /// Read with a plain HTTP client: `ipfs-api-backend-hyper`'s `id()` expects
    /// a `ProtocolVersion` field that Kubo no longer sends.
    pub async fn identity(&self) -> Result<Identity, KuboError> {
        let url = format!("{}/api/v0/id", self.api_url());
        let response = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| KuboError::Api { source })?;
        response.json().await.map_err(|source| KuboError::Api { source })
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.0.id()
    }

    /// The RPC API address, `127.0.0.1:<port>`.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// The RPC API's base URL, `http://127.0.0.1:<port>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The HTTP gateway's base URL, `http://127.0.0.1:<port>`.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The repository folder (`IPFS_PATH`).
    pub fn repo_path(&self) -> &Path {
        self.repo.path()
    }

    /// An RPC client for this node.
    pub fn client(&self) -> &IpfsClient {
        &self.client
    }

    /// An `ipfs` command line bound to this node's repository, so that the
    /// CLI talks to this daemon.
    pub fn command(&self) -> Command {
        ipfs_command(&self.ipfs, self.repo.path())
    }
}

impl std::fmt::Debug for KuboNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KuboNode")
            .field("pid", &self.daemon.0.id())
            .field("api", &self.api)
            .field("gateway", &self.gateway)
            .field("repo", &self.repo.path())
            .finish_non_exhaustive()
    }
}

/// The daemon process, killed and reaped on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // Errors mean the daemon has already exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls the daemon's log for its listening addresses and readiness.
async fn wait_until_listening(
    daemon: &mut Child,
    log: &Path,
) -> Result<(SocketAddr, SocketAddr), KuboError> {
    let started = Instant::now();
    loop {
        let text = fs::read_to_string(log).map_err(KuboError::Repo)?;
        if text.lines().any(|line| line.trim() == "Daemon is ready") {
            let api = listening_on(&text, "RPC API server listening on ");
            let gateway = listening_on(&text, "Gateway server listening on ");
            return match (api, gateway) {
                (Some(api), Some(gateway)) => Ok((api, gateway)),
                _ => Err(KuboError::NoAddress { log: text }),
            };
        }
        if let Some(status) = daemon.try_wait().map_err(KuboError::Spawn)? {
            return Err(KuboError::Exited { status, log: text });
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(KuboError::Timeout { after: READY_TIMEOUT, log: text });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An `ipfs` command with `IPFS_PATH` set and telemetry off.
fn ipfs_command(ipfs: &Path, repo: &Path) -> Command {
    let mut command = Command::new(ipfs);
    command.env("IPFS_PATH", repo).env("IPFS_TELEMETRY", "off").env("GOLOG_LOG_LEVEL", "error");
    command
}

/// Rewrites the repository's config file with [`isolation`].
fn isolate(config: &Path) -> Result<(), KuboError> {
    let config_error = |source: io::Error| KuboError::Config { path: config.to_owned(), source };
    let text = fs::read_to_string(config).map_err(config_error)?;
    let mut value: Value = serde_json::from_str(&text).map_err(|err| config_error(err.into()))?;
    for (path, setting) in isolation() {
        set(&mut value, path, setting);
    }
    let text = serde_json::to_string_pretty(&value).map_err(|err| config_error(err.into()))?;
    fs::write(config, text).map_err(config_error)
}

/// What `/api/v0/id` says of a node.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Identity {
    /// The node's peer id.
    #[serde(rename = "ID")]
    pub id: String,
    /// The multiaddresses it can be reached at; none when offline.
    #[serde(rename = "Addresses", default, deserialize_with = "null_as_empty")]
    pub addresses: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    Ok(<Option<Vec<String>> as serde::Deserialize>::deserialize(deserializer)?.unwrap_or_default())
}

/// Sets `path` in a JSON object tree to `setting`, creating (or replacing
/// non-object) parents on the way.
fn set(value: &mut Value, path: &[&str], setting: Value) {
    let mut node = value;
    for key in path {
        if !node.is_object() {
            *node = json!({});
        }
        // Indexing an object by a missing key inserts null there.
        node = &mut node[*key];
    }
    *node = setting;
}

/// Finds `<prefix>/ip4/<ip>/tcp/<port>` in the daemon's log.
fn listening_on(log: &str, prefix: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| line.trim().strip_prefix(prefix)).and_then(tcp_multiaddr)
}

/// Converts `/ip4/<ip>/tcp/<port>` to a socket address.
fn tcp_multiaddr(addr: &str) -> Option<SocketAddr> {
    match addr.trim().split('/').collect::<Vec<_>>().as_slice() {
        ["", "ip4", ip, "tcp", port] => format!("{ip}:{port}").parse().ok(),
        _ => None,
    }
}

/// Why Kubo could not be started.
#[derive(Debug, thiserror::Error)]
pub enum KuboError {
    /// `ipfs` is not installed.
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    /// The temporary repository could not be created or read.
    #[error("cannot prepare a temporary kubo repository")]
    Repo(#[source] io::Error),
    /// The `ipfs` binary could not be run.
    #[error("cannot run ipfs")]
    Spawn(#[source] io::Error),
    /// `ipfs init` failed.
    #[error("ipfs init failed: {output}")]
    Init {
        /// What it printed on stderr.
        output: String,
    },
    /// The repository's config could not be rewritten.
    #[error("cannot isolate the kubo config at {}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The I/O or JSON error.
        #[source]
        source: io::Error,
    },
    /// The daemon exited before it was ready.
    #[error("kubo exited ({status}) before it was ready:\n{log}")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// What it printed.
        log: String,
    },
    /// The daemon did not become ready in time.
    #[error("kubo was not ready after {after:?}:\n{log}")]
    Timeout {
        /// How long it was given.
        after: Duration,
        /// What it printed.
        log: String,
    },
    /// The daemon said it was ready without printing its addresses.
    #[error("kubo did not print its API and gateway addresses:\n{log}")]
    NoAddress {
        /// What it printed.
        log: String,
    },
    /// No RPC client could be built for the daemon's address.
    #[error("cannot build an RPC client for kubo")]
    Client {
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The RPC API did not answer `/api/v0/id`.
    #[error("kubo's RPC API did not answer /api/v0/id")]
    Api {
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_multiaddrs_become_socket_addresses() {
        assert_eq!(tcp_multiaddr("/ip4/127.0.0.1/tcp/5001"), Some(([127, 0, 0, 1], 5001).into()));
        assert_eq!(tcp_multiaddr("/ip6/::1/tcp/5001"), None);
        assert_eq!(tcp_multiaddr("/ip4/127.0.0.1/udp/5001/quic-v1"), None);
        assert_eq!(tcp_multiaddr("/ip4/127.0.0.1/tcp/not-a-port"), None);
    }

    #[test]
    fn listening_addresses_are_read_from_the_log() {
        let log = "Initializing daemon...\nRPC API server listening on /ip4/127.0.0.1/tcp/40123\n\
                   Gateway server listening on /ip4/127.0.0.1/tcp/40124\nDaemon is ready\n";
        assert_eq!(
            listening_on(log, "RPC API server listening on "),
            Some(([127, 0, 0, 1], 40123).into())
        );
        assert_eq!(
            listening_on(log, "Gateway server listening on "),
            Some(([127, 0, 0, 1], 40124).into())
        );
        assert_eq!(listening_on(log, "WebUI: "), None);
    }

    #[test]
    fn set_creates_missing_parents_and_replaces_leaves() {
        let mut config = json!({"Routing": {"Type": "auto"}, "Plugins": null});
        set(&mut config, &["Routing", "Type"], json!("none"));
        set(&mut config, &["Plugins", "Plugins", "telemetry", "Config", "Mode"], json!("off"));
        assert_eq!(config["Routing"]["Type"], "none");
        assert_eq!(config["Plugins"]["Plugins"]["telemetry"]["Config"]["Mode"], "off");
    }
}
