//! `medvault dev` writes the stack file once everything runs, and stops it
//! all on Ctrl-C.

use std::{
    io::Read as _,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use alloy::providers::{Provider, ProviderBuilder};
use medvault_cli::stack::{Role, Stack};

use crate::support::{answers, children, exists, socket};

#[tokio::test(flavor = "multi_thread")]
async fn dev_writes_the_stack_file_and_stops_everything_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let stack_dir = dir.path().join("dev");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medvault"))
        .args(["dev", "--dir"])
        .arg(&stack_dir)
        .env_remove("MEDVAULT_DEV_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let path = stack_dir.join("stack.json");
    let started = Instant::now();
    let stack = loop {
        if let Ok(stack) = Stack::load(&path) {
            break stack;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("medvault dev exited ({status}) before writing {}", path.display());
        }
        if started.elapsed() > Duration::from_secs(240) {
            let _ = child.kill();
            panic!("no stack file after {:?}", started.elapsed());
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(Role::ALL.iter().all(|&role| stack.identity(role).is_ok()));

    let provider = ProviderBuilder::new().connect_http(stack.rpc_url.clone());
    assert_eq!(provider.get_chain_id().await.unwrap(), stack.chain_id);
    assert!(!provider.get_code_at(stack.contract).await.unwrap().is_empty());
    let sockets =
        [&stack.rpc_url, &stack.gateway_url, &stack.indexer_url, &stack.ipfs_api_url].map(socket);
    assert!(sockets.iter().all(|&socket| answers(socket)));
    let mut processes = children(child.id());
    processes.sort_by(|a, b| a.1.cmp(&b.1));
    let names: Vec<_> = processes.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["anvil", "ipfs"]);

    // Ctrl-C.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "medvault dev exited with {status}");
    let mut summary = String::new();
    child.stdout.take().unwrap().read_to_string(&mut summary).unwrap();
    assert!(summary.contains(&path.display().to_string()), "{summary}");
    let patient = stack.identity(Role::Patient).unwrap();
    assert!(summary.contains(&patient.address.to_string()), "{summary}");
    assert!(
        !summary.contains(&alloy::hex::encode(patient.private_key)),
        "the summary prints a private key"
    );
    for (pid, name) in processes {
        assert!(!exists(pid), "{name} ({pid}) is still there");
    }
    for socket in sockets {
        assert!(!answers(socket), "{socket} still answers");
    }
}
