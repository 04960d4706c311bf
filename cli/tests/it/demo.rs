//! `medvault demo`, the built binary, against a [`DevStack`]'s stack file:
//! it names every step, prints transaction hashes and CIDs, exits 0, and
//! tells the story again (as JSON) on the same stack.

use std::process::Command;

use medvault_cli::{
    demo::STEPS,
    dev::{DevOptions, DevStack},
};
use serde_json::Value;

/// Every `0x` word of exactly `digits` hex digits in `text`.
fn hex_words(text: &str, digits: usize) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            word.strip_prefix("0x").is_some_and(|hex| {
                hex.len() == digits && hex.chars().all(|c| c.is_ascii_hexdigit())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn medvault_demo_tells_every_step_with_hashes_and_cids() {
    let dir = tempfile::tempdir().unwrap();
    let dev = DevStack::start(DevOptions::new(dir.path().join("dev"))).await.unwrap();
    let demo = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_medvault"));
        command.arg("--stack").arg(dev.stack_path()).arg("demo");
        if json {
            command.arg("--json");
        }
        command.env_remove("MEDVAULT_PRIVATE_KEY").output().unwrap()
    };

    let output = tokio::task::block_in_place(|| demo(false));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}\n{stdout}\n{stderr}", output.status);
    for (number, name) in STEPS.iter().enumerate() {
        let heading = format!("[{:>2}/{}] {name} ", number + 1, STEPS.len());
        assert!(stdout.contains(&heading), "no step {heading:?} in\n{stdout}");
    }
    assert!(stdout.contains("the story is told: 14 steps"), "{stdout}");
    // Transactions of the upload, the request, the approval, the alert,
    // the revocation, the rotation, break-glass, the release and the review.
    let hashes = hex_words(&stdout, 64);
    assert!(hashes.len() >= 12, "{} hashes in\n{stdout}", hashes.len());
    assert!(stdout.split_whitespace().any(|word| word.starts_with("bafy")), "no CID in\n{stdout}");
    assert!(stdout.contains("gets the same 262144 bytes"), "{stdout}");
    assert!(stdout.contains("may not read record"), "the refusal as a sentence:\n{stdout}");
    assert!(stdout.contains("opens      true"), "{stdout}");

    // Again, as one JSON document: the story can be told twice on one stack.
    let output = tokio::task::block_in_place(|| demo(true));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let story: Value = serde_json::from_str(&stdout).unwrap();
    let steps = story["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|step| step["name"].as_str().unwrap()).collect();
    assert_eq!(names, STEPS);
    for step in steps {
        assert!(step["seconds"].as_f64().unwrap() > 0.0, "{step}");
        assert!(!step["summary"].as_str().unwrap().is_empty(), "{step}");
    }
    assert_eq!(steps[1]["result"]["action"], "uploaded");
    assert!(steps[1]["result"]["cid"].as_str().unwrap().starts_with("bafy"));
    assert_eq!(steps[8]["name"], "refused");
    assert!(steps[8]["result"]["reason"].as_str().unwrap().contains("revoked"));

    dev.shutdown().await;
}
