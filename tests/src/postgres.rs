//! A throwaway Postgres server for tests: `initdb` in a temporary folder,
//! `postgres` on a free loopback port with its socket in that folder, killed
//! and removed when dropped.
//!
//! Postgres refuses to run as root, so when the tests run as root the folder
//! is handed to the `postgres` system user (or `nobody`) and the server runs
//! under that user's id.

use std::{
    env, fs,
    net::{Ipv4Addr, TcpListener},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::toolchain::workspace_root;

/// The environment variable naming the folder of Postgres's binaries.
pub const POSTGRES_BIN_ENV: &str = "MEDVAULT_POSTGRES_BIN";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The superuser `initdb` creates; it logs in without a password over
/// loopback.
const SUPERUSER: &str = "medvault";

/// A running Postgres server.
#[derive(Debug)]
pub struct PostgresServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

/// Why Postgres could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// No Postgres binaries were found.
    #[error(
        "postgres is not installed: set {POSTGRES_BIN_ENV}, or run `make bootstrap` (it installs Debian's postgresql package)"
    )]
    NotInstalled,
    /// A file operation or a process failed.
    #[error("{what} failed")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A setup command exited with an error.
    #[error("{command} failed: {stderr}")]
    Command {
        /// The command.
        command: &'static str,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The server did not accept connections in time.
    #[error("postgres did not start within {}s; its log: {log}", START_TIMEOUT.as_secs())]
    Timeout {
        /// The server's log.
        log: String,
    },
}

impl PostgresServer {
    /// Initialises a cluster in a temporary folder and starts it on a free
    /// 127.0.0.1 port.
    pub fn spawn() -> Result<Self, PostgresError> {
        let bin = postgres_bin().ok_or(PostgresError::NotInstalled)?;
        let dir = tempfile::Builder::new()
            .prefix("medvault-pg-")
            .tempdir()
            .map_err(|source| PostgresError::Io { what: "creating the data folder", source })?;
        let data = dir.path().join("data");
        let user = unprivileged_user()?;
        if let Some((uid, _)) = user {
            let status = Command::new("chown")
                .arg(uid.to_string())
                .arg(dir.path())
                .status()
                .map_err(|source| PostgresError::Io { what: "chown", source })?;
            if !status.success() {
                return Err(PostgresError::Command { command: "chown", stderr: String::new() });
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "--locale=C", "--encoding=UTF8", "--no-sync"])
            .stdin(Stdio::null());
        as_user(&mut initdb, user);
        let output = initdb
            .output()
            .map_err(|source| PostgresError::Io { what: "running initdb", source })?;
        if !output.status.success() {
            return Err(PostgresError::Command {
                command: "initdb",
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let port = free_port()?;
        let log = fs::File::create(dir.path().join("postgres.log"))
            .map_err(|source| PostgresError::Io { what: "creating the log", source })?;
        let log_err = log
            .try_clone()
            .map_err(|source| PostgresError::Io { what: "opening the log", source })?;
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            // A test database is thrown away: durability buys nothing.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        as_user(&mut postgres, user);
        let child = postgres
            .spawn()
            .map_err(|source| PostgresError::Io { what: "starting postgres", source })?;
        let server = Self { child, port, dir };
        server.wait_ready(&bin)?;
        Ok(server)
    }

    /// The server's URL, for the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port on 127.0.0.1.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Creates a database named `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, PostgresError> {
        let bin = postgres_bin().ok_or(PostgresError::NotInstalled)?;
        let output = Command::new(bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER, name])
            .output()
            .map_err(|source| PostgresError::Io { what: "running createdb", source })?;
        if !output.status.success() {
            return Err(PostgresError::Command {
                command: "createdb",
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port))
    }

    fn wait_ready(&self, bin: &Path) -> Result<(), PostgresError> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", SUPERUSER])
                .status()
                .map_err(|source| PostgresError::Io { what: "running pg_isready", source })?;
            if ready.success() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(PostgresError::Timeout {
            log: fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default(),
        })
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // SIGQUIT is Postgres's immediate shutdown: the postmaster stops its
        // backends and removes its shared memory, which SIGKILL would leave.
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The folder of Postgres's binaries: `$MEDVAULT_POSTGRES_BIN`, else
/// `.tools/postgres/bin`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn postgres_bin() -> Option<PathBuf> {
    if let Some(bin) = env::var_os(POSTGRES_BIN_ENV) {
        return Some(PathBuf::from(bin));
    }
    let tools = workspace_root().join(".tools").join("postgres").join("bin");
    if tools.join("postgres").is_file() {
        return Some(tools);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The (uid, gid) to run Postgres as when this process is root: the
/// `postgres` user, else `nobody`. `None` when not root.
fn unprivileged_user() -> Result<Option<(u32, u32)>, PostgresError> {
    let passwd = fs::read_to_string("/etc/passwd")
        .map_err(|source| PostgresError::Io { what: "reading /etc/passwd", source })?;
    let ids = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
        })
    };
    let euid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|source| PostgresError::Io { what: "running id", source })?;
    if String::from_utf8_lossy(&euid.stdout).trim() != "0" {
        return Ok(None);
    }
    Ok(ids("postgres").or_else(|| ids("nobody")))
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid).env("HOME", "/");
    }
}

fn free_port() -> Result<u16, PostgresError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|source| PostgresError::Io { what: "finding a free port", source })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| PostgresError::Io { what: "finding a free port", source })
}
