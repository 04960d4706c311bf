//! `medvault dev` starts the stack, says where it is, and stops it all on
//! Ctrl-C.

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpStream},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use alloy::providers::{Provider, ProviderBuilder};

/// Reads the summary lines `medvault dev` prints once everything runs.
fn summary_value<'a>(summary: &'a [String], label: &str) -> &'a str {
    summary
        .iter()
        // Values are on indented lines; the heading names MedVault too.
        .find_map(|line| line.strip_prefix("  ")?.strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap())
        .unwrap_or_else(|| panic!("no {label:?} line in {summary:#?}"))
}

fn socket(url: &str) -> SocketAddr {
    url.strip_prefix("http://").unwrap().parse().unwrap()
}

#[tokio::test]
async fn dev_runs_the_stack_and_stops_it_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_medvault"))
        .arg("dev")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Collect stdout until the summary's last line, on a thread so that a
    // stack that never comes up fails the test instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut summary = Vec::new();
    while !summary.last().is_some_and(|line: &String| line.contains("IPFS gateway")) {
        match received.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => summary.push(line),
            Err(err) => {
                let _ = child.kill();
                panic!("medvault dev printed no summary ({err}): {summary:#?}");
            }
        }
    }

    let rpc = summary_value(&summary, "chain (anvil)");
    let vault = summary_value(&summary, "MedVault");
    let ipfs_api = summary_value(&summary, "IPFS RPC API");
    let gateway = summary_value(&summary, "IPFS gateway");
    for url in [rpc, ipfs_api, gateway] {
        assert!(url.starts_with("http://127.0.0.1:"), "{url} is not on loopback");
    }

    let provider = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
    assert_eq!(provider.get_chain_id().await.unwrap(), 31337);
    let code = provider.get_code_at(vault.parse().unwrap()).await.unwrap();
    assert!(!code.is_empty(), "no contract at {vault}");
    assert!(TcpStream::connect(socket(ipfs_api)).is_ok());

    // Ctrl-C.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "medvault dev exited with {status}");
    for url in [rpc, ipfs_api, gateway] {
        assert!(TcpStream::connect(socket(url)).is_err(), "{url} still answers after Ctrl-C");
    }
}
