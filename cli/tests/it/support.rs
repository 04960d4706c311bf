//! What both tests check: processes and ports that must be gone.

use std::{
    fs,
    net::{SocketAddr, TcpStream},
    path::Path,
};

use url::Url;

/// The loopback socket of a base URL.
pub(crate) fn socket(url: &Url) -> SocketAddr {
    let host = url.host_str().unwrap();
    assert_eq!(host, "127.0.0.1", "{url} is not on loopback");
    format!("{host}:{}", url.port().unwrap()).parse().unwrap()
}

/// Whether something accepts connections at `address`.
pub(crate) fn answers(address: SocketAddr) -> bool {
    TcpStream::connect(address).is_ok()
}

/// Whether a process `pid` exists (a zombie counts: it was not reaped).
pub(crate) fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The children of `parent`, with their command names.
pub(crate) fn children(parent: u32) -> Vec<(u32, String)> {
    let mut children = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().map_while(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after `)`.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map(|(_, comm)| comm.to_owned()).unwrap_or_default();
        let ppid = rest.split_whitespace().nth(1).and_then(|ppid| ppid.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push((pid, comm));
        }
    }
    children
}
