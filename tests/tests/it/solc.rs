//! The `solc` command (`.tools/bin/solc`) answers like native solc: the two
//! version lines, and Standard JSON with imports read from the allowed paths.

use std::{
    fs,
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

use medvault_tests::Toolchain;
use serde_json::{Value, json};

/// Runs `solc <args> --standard-json` on `input` and parses its output.
fn standard_json(args: &[&str], input: &Value) -> Value {
    let mut child = Command::new(Toolchain::locate().solc().unwrap())
        .args(args)
        .arg("--standard-json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Standard JSON for one source that imports `import` and is otherwise empty.
fn importing(import: &str) -> Value {
    json!({
        "language": "Solidity",
        "sources": { "Main.sol": { "content": format!(
            "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\nimport \"{import}\";\ncontract Main is Lib {{}}\n"
        ) } },
        "settings": { "outputSelection": { "*": { "*": ["evm.bytecode.object"] } } }
    })
}

fn write_lib(dir: &Path, relative: &str) {
    let path = dir.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Lib { uint256 public x = 1; }\n")
        .unwrap();
}

fn errors(output: &Value) -> Vec<String> {
    output["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter(|e| e["severity"] == "error")
                .map(|e| e["formattedMessage"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn version_prints_the_two_lines_native_solc_prints() {
    let output =
        Command::new(Toolchain::locate().solc().unwrap()).arg("--version").output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], "solc, the solidity compiler commandline interface");
    assert!(lines[1].starts_with("Version: 0.8.37+commit."), "{}", lines[1]);
}

#[test]
fn imports_resolve_against_the_base_path() {
    let base = tempfile::tempdir().unwrap();
    write_lib(base.path(), "lib/Lib.sol");
    let output =
        standard_json(&["--base-path", base.path().to_str().unwrap()], &importing("lib/Lib.sol"));
    assert_eq!(errors(&output), Vec::<String>::new());
    assert!(
        output["contracts"]["Main.sol"]["Main"]["evm"]["bytecode"]["object"]
            .as_str()
            .unwrap()
            .len()
            > 10
    );
    assert!(output["sources"]["lib/Lib.sol"].is_object(), "the import was compiled as lib/Lib.sol");
}

#[test]
fn imports_resolve_against_include_paths_and_other_flags_are_accepted() {
    let (base, include) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_lib(include.path(), "vendor/Lib.sol");
    let args = [
        "--base-path",
        base.path().to_str().unwrap(),
        "--include-path",
        include.path().to_str().unwrap(),
        "--no-color",
        "--pretty-json",
    ];
    let output = standard_json(&args, &importing("vendor/Lib.sol"));
    assert_eq!(errors(&output), Vec::<String>::new());
}

#[test]
fn an_import_outside_the_allowed_paths_is_refused() {
    let (base, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_lib(elsewhere.path(), "Lib.sol");
    let outside = elsewhere.path().join("Lib.sol");
    let args = ["--base-path", base.path().to_str().unwrap()];

    let refused = standard_json(&args, &importing(outside.to_str().unwrap()));
    assert_eq!(errors(&refused).len(), 1, "{refused}");
    assert!(refused["contracts"]["Main.sol"].is_null());

    // The same file, once its folder is allowed, compiles.
    let allowed = [args[0], args[1], "--allow-paths", elsewhere.path().to_str().unwrap()];
    let output = standard_json(&allowed, &importing(outside.to_str().unwrap()));
    assert_eq!(errors(&output), Vec::<String>::new());
}

#[test]
fn a_missing_import_is_an_error_in_the_output() {
    let base = tempfile::tempdir().unwrap();
    let output =
        standard_json(&["--base-path", base.path().to_str().unwrap()], &importing("no/Such.sol"));
    let errors = errors(&output);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("no/Such.sol"), "{}", errors[0]);
}
