//! The `medvault-deploy` binary: one run end to end, and its errors as one
//! line on stderr with a non-zero exit.

use std::{
    path::Path,
    process::{Command, Output},
};

use alloy::hex;
use medvault_deploy::Manifest;
use medvault_tests::{Toolchain, toolchain::workspace_root};

use crate::common::{Chain, contracts_copy};

fn medvault_deploy(chain: &Chain, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medvault-deploy"))
        .args(["--rpc-url", &chain.anvil.endpoint(), "--out"])
        .arg(chain.out.path())
        .args(args)
        .env("MEDVAULT_PRIVATE_KEY", hex::encode(chain.anvil.keys()[0].to_bytes()))
        .current_dir(workspace_root())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_binary_deploys_and_stops_on_errors_with_a_sentence() {
    let chain = Chain::start();
    let gateway = chain.account(1).to_string();

    // From the workspace root, with the default `contracts` and solc.
    let output = medvault_deploy(
        &chain,
        &["--chain-id", "31337", "--relayer", &gateway, "--emergency-custodian", &gateway],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.starts_with(&format!("Connected to chain 31337 at {} as ", chain.anvil.endpoint())),
        "{stderr}"
    );
    let manifest = Manifest::load(&chain.manifest_path(), 31337).unwrap().unwrap();
    assert!(
        stdout.starts_with(&format!("Deployed MedVault at {}", manifest.deployment.med_vault)),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("Enabled relayer {gateway}")), "{stdout}");
    assert!(stdout.ends_with(&format!("Wrote {}.\n", chain.manifest_path().display())), "{stdout}");
    assert_eq!(manifest.roles.relayers, [chain.account(1)]);
    let key = hex::encode(chain.anvil.keys()[0].to_bytes());
    assert!(!stdout.contains(&key) && !stderr.contains(&key), "the key was printed");

    // Stops on the wrong chain, before compiling.
    let output = medvault_deploy(&chain, &["--chain-id", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: the node at {} is on chain 31337, not the expected chain 1\n",
            chain.anvil.endpoint()
        )
    );

    // Stops on a compile error with solc's diagnostics.
    let broken =
        contracts_copy(|source| source.replacen("contract MedVault", "contract MedVault {", 1));
    let solc = Toolchain::locate().solc().unwrap();
    let output = medvault_deploy(
        &chain,
        &["--contracts", broken.path().to_str().unwrap(), "--solc", solc.to_str().unwrap()],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_default();
    assert_eq!(
        error,
        format!("error: cannot compile {}: the contracts do not compile:", broken.path().display())
    );
    assert!(stderr.contains("MedVault.sol"), "{stderr}");
}

#[test]
fn a_wrong_keystore_password_is_named() {
    let chain = Chain::start();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cast-keystore.json");
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "not it\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_medvault-deploy"))
        .args(["--rpc-url", &chain.anvil.endpoint(), "--keystore"])
        .arg(&fixture)
        .arg("--password-file")
        .arg(&password)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!(
            "error: cannot open the deployer's key: the password does not decrypt the keystore {}\n",
            fixture.display()
        )
    );
}
