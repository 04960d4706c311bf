//! One [`DevStack`] shared by the flows of this test binary.
//!
//! The stack runs on its own thread and runtime, so that it outlives the
//! runtime of the test that started it. [`lease`] counts the tests that use
//! it: the first starts it, the last one to let go stops it (Anvil and Kubo
//! with it), so no process outlives the binary however many tests a filter
//! selects. A lease also takes the turn: one flow at a time plays the demo
//! identities.

use std::{
    path::PathBuf,
    sync::{Mutex, mpsc},
    thread::JoinHandle,
};

use medvault_cli::{
    context::GlobalArgs,
    demo::{Args, Demo},
    dev::{DevOptions, DevStack},
    stack::Stack,
};
use tokio::sync::{MutexGuard, oneshot};

/// The running stack and how to stop it.
struct Running {
    stack: Stack,
    path: PathBuf,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// How many tests hold a lease, and the stack while one does.
struct Slot {
    users: usize,
    running: Option<Running>,
}

static SLOT: Mutex<Slot> = Mutex::new(Slot { users: 0, running: None });
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A test's use of the shared stack, and its turn to play the identities.
pub(crate) struct Lease {
    /// What `stack.json` holds.
    pub(crate) stack: Stack,
    /// Where `stack.json` is.
    pub(crate) path: PathBuf,
    // Dropped before the count, so that a waiting test takes the turn while
    // the stack still counts this one.
    turn: Option<MutexGuard<'static, ()>>,
}

impl Lease {
    /// A fresh telling of the story against the stack.
    pub(crate) fn demo(&self) -> Demo {
        let global = GlobalArgs { stack: Some(self.path.clone()), ..GlobalArgs::default() };
        Demo::new(global, Args { report_size: 64 * 1024, ..Args::default() }).unwrap()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.turn.take());
        let mut slot = SLOT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.users -= 1;
        if slot.users == 0
            && let Some(running) = slot.running.take()
        {
            let _ = running.stop.send(());
            let _ = running.thread.join();
        }
    }
}

/// Takes a lease on the shared stack (starting it if no test holds one) and
/// waits for this test's turn.
pub(crate) async fn lease() -> Lease {
    let (stack, path) = tokio::task::block_in_place(|| {
        let mut slot = SLOT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.users += 1;
        if slot.running.is_none() {
            match start() {
                Ok(running) => slot.running = Some(running),
                Err(message) => {
                    slot.users -= 1;
                    panic!("{message}");
                }
            }
        }
        let running = slot.running.as_ref().unwrap();
        (running.stack.clone(), running.path.clone())
    });
    let turn = TURN.lock().await;
    Lease { stack, path, turn: Some(turn) }
}

/// Starts a stack on its own thread and runtime, which stop it when told.
fn start() -> Result<Running, String> {
    let (started_tx, started_rx) = mpsc::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let dev = match DevStack::start(DevOptions::new(dir.path().join("dev"))).await {
                Ok(dev) => dev,
                Err(error) => {
                    let _ = started_tx.send(Err(format!("the stack did not start: {error}")));
                    return;
                }
            };
            let _ = started_tx.send(Ok((dev.stack().clone(), dev.stack_path())));
            let _ = stopped.await;
            dev.shutdown().await;
            drop(dir);
        });
    });
    match started_rx.recv() {
        Ok(Ok((stack, path))) => Ok(Running { stack, path, stop, thread }),
        Ok(Err(message)) => {
            let _ = thread.join();
            Err(message)
        }
        Err(_) => {
            let _ = thread.join();
            Err("the stack's thread ended before the stack started".into())
        }
    }
}
