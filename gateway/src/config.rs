//! The gateway's configuration: one `clap` parser, every option also an
//! environment variable, the relayer's key from the environment or a
//! keystore (never a log: [`Secret`] prints nothing).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::{primitives::Address, transports::http::reqwest::Url};
use medvault_deploy::{KeySource, Secret};

/// The environment variable that holds the relayer keystore's password.
pub const PASSWORD_ENV: &str = "MEDVAULT_RELAYER_KEYSTORE_PASSWORD";

/// The MedVault gateway: sign-in with Ethereum, encrypted records to and from
/// IPFS, and relayed signed actions.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "medvault-gateway", version)]
pub struct Config {
    /// The address to listen on.
    #[arg(long, env = "MEDVAULT_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The chain's JSON-RPC endpoint, http or https.
    #[arg(long, env = "MEDVAULT_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: Url,

    /// The chain id the endpoint must serve; the gateway refuses to start on
    /// another. Sign-in messages must name it too.
    #[arg(long, env = "MEDVAULT_CHAIN_ID")]
    pub chain_id: Option<u64>,

    /// The MedVault contract. Default: the one recorded in
    /// <deployments>/<chain-id>.json.
    #[arg(long, env = "MEDVAULT_CONTRACT", value_name = "ADDRESS")]
    pub contract: Option<Address>,

    /// The block MedVault was deployed in, where event scans start.
    /// Default: the one recorded in <deployments>/<chain-id>.json for this
    /// contract, else 0.
    #[arg(long, env = "MEDVAULT_FROM_BLOCK", value_name = "BLOCK")]
    pub from_block: Option<u64>,

    /// The folder of the deployment manifests that `medvault-deploy` writes.
    #[arg(long, env = "MEDVAULT_DEPLOYMENTS", default_value = "deployments", value_name = "DIR")]
    pub deployments: PathBuf,

    /// Kubo's RPC API.
    #[arg(long, env = "MEDVAULT_IPFS_URL", default_value = "http://127.0.0.1:5001")]
    pub ipfs_url: Url,

    /// The SQLite file of the gateway's durable state (sign-in nonces,
    /// idempotency keys, pending uploads, the access log); created if
    /// missing.
    #[arg(long, env = "MEDVAULT_GATEWAY_DATABASE", default_value = "gateway.sqlite")]
    pub database: PathBuf,

    /// The domain (host and port, as a browser shows it) that sign-in
    /// messages must name, and the authority of their URI.
    #[arg(long, env = "MEDVAULT_GATEWAY_DOMAIN", default_value = "localhost:8080")]
    pub domain: String,

    /// The relayer's private key, 64 hex digits. Prefer the environment
    /// variable or a keystore: other users can read command lines.
    #[arg(long, env = "MEDVAULT_RELAYER_KEY", hide_env_values = true)]
    pub relayer_key: Option<Secret>,

    /// A foundry or geth keystore holding the relayer's key; its password
    /// comes from --password-file or MEDVAULT_RELAYER_KEYSTORE_PASSWORD.
    #[arg(long, env = "MEDVAULT_RELAYER_KEYSTORE", value_name = "PATH")]
    pub keystore: Option<PathBuf>,

    /// A file holding the keystore's password (one line).
    #[arg(long, env = "MEDVAULT_PASSWORD_FILE", value_name = "PATH", requires = "keystore")]
    pub password_file: Option<PathBuf>,

    /// 32 bytes in hex that sign session tokens, so that sessions survive a
    /// restart and are shared by replicas. Default: random at start.
    #[arg(long, env = "MEDVAULT_SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<Secret>,

    /// The emergency custodian's private key (hex). With it (or a custodian
    /// keystore) the gateway watches break-glass openings and re-seals
    /// emergency keys; without, it is no custodian.
    #[arg(long, env = "MEDVAULT_CUSTODIAN_KEY", hide_env_values = true)]
    pub custodian_key: Option<Secret>,

    /// The emergency custodian's Foundry or geth keystore.
    #[arg(long, env = "MEDVAULT_CUSTODIAN_KEYSTORE", value_name = "PATH")]
    pub custodian_keystore: Option<PathBuf>,

    /// A file holding the custodian keystore's password (else
    /// `MEDVAULT_CUSTODIAN_KEYSTORE_PASSWORD`).
    #[arg(
        long,
        env = "MEDVAULT_CUSTODIAN_PASSWORD_FILE",
        value_name = "PATH",
        requires = "custodian_keystore"
    )]
    pub custodian_password_file: Option<PathBuf>,

    /// The built web page (`web/dist`): served on the gateway's own origin,
    /// every path that is no route answered with its `index.html`. Without
    /// it the gateway serves no page.
    #[arg(long, env = "MEDVAULT_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,

    /// The indexer the page queries, named in `/config.json`.
    #[arg(long, env = "MEDVAULT_INDEXER_URL", value_name = "URL")]
    pub indexer_url: Option<Url>,

    /// Limits on requests, sessions and the chain.
    #[command(flatten)]
    pub limits: Limits,
}

impl Config {
    /// The relayer's key source: the private key if given, else the
    /// keystore; `None` when neither is.
    pub fn key_source(&self) -> Result<Option<KeySource>, ConfigError> {
        if let Some(key) = &self.relayer_key {
            return Ok(Some(KeySource::PrivateKey(key.clone())));
        }
        let Some(path) = self.keystore.clone() else { return Ok(None) };
        let password = match &self.password_file {
            Some(file) => Secret::from_file(file).map_err(ConfigError::Password)?,
            None => std::env::var(PASSWORD_ENV)
                .map(Secret::new)
                .map_err(|_| ConfigError::MissingPassword { path: path.clone() })?,
        };
        Ok(Some(KeySource::Keystore { path, password }))
    }

    /// Where the emergency custodian's key comes from, if the gateway is
    /// one.
    pub fn custodian_key_source(&self) -> Result<Option<KeySource>, ConfigError> {
        if let Some(key) = &self.custodian_key {
            return Ok(Some(KeySource::PrivateKey(key.clone())));
        }
        let Some(path) = self.custodian_keystore.clone() else { return Ok(None) };
        let password = match &self.custodian_password_file {
            Some(file) => Secret::from_file(file).map_err(ConfigError::Password)?,
            None => std::env::var("MEDVAULT_CUSTODIAN_KEYSTORE_PASSWORD")
                .map(Secret::new)
                .map_err(|_| ConfigError::MissingPassword { path: path.clone() })?,
        };
        Ok(Some(KeySource::Keystore { path, password }))
    }
}

/// Limits on requests, sessions and the chain.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// The largest JSON body, in bytes; larger gets 413.
    #[arg(long, env = "MEDVAULT_GATEWAY_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,

    /// How long a request (but a streaming transfer) may take, in seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// Requests a second from one IP address, sustained.
    #[arg(long, env = "MEDVAULT_GATEWAY_IP_RATE", default_value_t = 100.0)]
    pub ip_rate: f64,

    /// Requests from one IP address in a burst.
    #[arg(long, env = "MEDVAULT_GATEWAY_IP_BURST", default_value_t = 200.0)]
    pub ip_burst: f64,

    /// Requests a second from one signed-in address, sustained.
    #[arg(long, env = "MEDVAULT_GATEWAY_ADDRESS_RATE", default_value_t = 50.0)]
    pub address_rate: f64,

    /// Requests from one signed-in address in a burst.
    #[arg(long, env = "MEDVAULT_GATEWAY_ADDRESS_BURST", default_value_t = 100.0)]
    pub address_burst: f64,

    /// Sign-in requests (nonce and verify) a second from one IP address.
    #[arg(long, env = "MEDVAULT_GATEWAY_SIGN_IN_RATE", default_value_t = 0.5)]
    pub sign_in_rate: f64,

    /// Sign-in requests from one IP address in a burst.
    #[arg(long, env = "MEDVAULT_GATEWAY_SIGN_IN_BURST", default_value_t = 10.0)]
    pub sign_in_burst: f64,

    /// How long a sign-in nonce stays usable, in seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_NONCE_TTL", default_value_t = 300)]
    pub nonce_ttl_secs: u64,

    /// How long a session token stays valid, in seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_SESSION_TTL", default_value_t = 900)]
    pub session_ttl_secs: u64,

    /// How long to wait for a relayed transaction's receipt, in seconds;
    /// below the request timeout, so that a slow chain answers 504 with the
    /// transaction kept for a retry rather than a dropped request.
    #[arg(long, env = "MEDVAULT_GATEWAY_RECEIPT_TIMEOUT", default_value_t = 45)]
    pub receipt_timeout_secs: u64,

    /// The largest upload (a record or plaintext), in bytes; larger gets 413.
    #[arg(long, env = "MEDVAULT_GATEWAY_UPLOAD_LIMIT", default_value_t = 4 << 30)]
    pub upload_limit: u64,

    /// The largest part of an upload session, in bytes; larger gets 413.
    #[arg(long, env = "MEDVAULT_GATEWAY_UPLOAD_PART_LIMIT", default_value_t = 8 << 20)]
    pub upload_part_limit: u64,
    /// How long an upload session may wait for its next part before it is
    /// abandoned (its Kubo add aborted, nothing pinned), in seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_UPLOAD_IDLE", default_value_t = 60)]
    pub upload_idle_secs: u64,
    /// Upload sessions one signed-in address may have open at once; one more
    /// gets 429.
    #[arg(long, env = "MEDVAULT_GATEWAY_UPLOAD_SESSIONS", default_value_t = 4)]
    pub upload_sessions: usize,
    /// How long an upload may wait for its signed add-record before the
    /// sweeper unpins it, and how long an idempotency key is remembered, in
    /// seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_PENDING_TTL", default_value_t = 86_400)]
    pub pending_ttl_secs: u64,

    /// How often the access log is anchored on chain (and the sweeper runs),
    /// in seconds.
    #[arg(long, env = "MEDVAULT_GATEWAY_ANCHOR_INTERVAL", default_value_t = 600)]
    pub anchor_interval_secs: u64,
}

impl Limits {
    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The sign-in nonce lifetime.
    pub fn nonce_ttl(&self) -> Duration {
        Duration::from_secs(self.nonce_ttl_secs)
    }

    /// The session lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }

    /// The receipt timeout.
    pub fn receipt_timeout(&self) -> Duration {
        Duration::from_secs(self.receipt_timeout_secs)
    }

    /// How long an upload session waits for its next part.
    pub fn upload_idle(&self) -> Duration {
        Duration::from_secs(self.upload_idle_secs)
    }
}

impl Default for Limits {
    /// The same values as the command line's defaults.
    fn default() -> Self {
        Self {
            body_limit: 1 << 20,
            request_timeout_secs: 60,
            ip_rate: 100.0,
            ip_burst: 200.0,
            address_rate: 50.0,
            address_burst: 100.0,
            sign_in_rate: 0.5,
            sign_in_burst: 10.0,
            nonce_ttl_secs: 300,
            session_ttl_secs: 900,
            receipt_timeout_secs: 45,
            upload_limit: 4 << 30,
            upload_part_limit: 8 << 20,
            upload_idle_secs: 60,
            upload_sessions: 4,
            pending_ttl_secs: 86_400,
            anchor_interval_secs: 600,
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The keystore's password file could not be read.
    #[error("cannot read the keystore password")]
    Password(#[source] medvault_deploy::SignerError),
    /// A keystore was given without a password.
    #[error(
        "the keystore {} needs a password: give --password-file PATH or set {PASSWORD_ENV}",
        path.display()
    )]
    MissingPassword {
        /// The keystore.
        path: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_default_limits_are_the_command_lines() {
        let config = Config::try_parse_from(["medvault-gateway"]).unwrap();
        let (parsed, default) =
            (format!("{:?}", config.limits), format!("{:?}", Limits::default()));
        assert_eq!(parsed, default);
    }

    #[test]
    fn a_secret_never_reaches_debug() {
        let config =
            Config::try_parse_from(["medvault-gateway", "--relayer-key", "0xsecretkey"]).unwrap();
        assert!(!format!("{config:?}").contains("secretkey"));
    }
}
