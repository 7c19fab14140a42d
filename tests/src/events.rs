//! The lifecycle events a test sees: its own bus on the local stack, with a
//! queue that receives every `cog.tokens` event put on it
//! (`infra/local/events.py`, as `make dev` uses it).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{repo_root, unique};

/// The tools venv's Python (boto3 comes with moto).
pub fn tools_python() -> PathBuf {
    let tools = std::env::var_os("COG_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".local/tools"));
    tools.join("venv/bin/python")
}

fn events_py(args: &[&str]) -> String {
    crate::require_stack();
    let output = Command::new(tools_python())
        .arg(repo_root().join("infra/local/events.py"))
        .args(args)
        .output()
        .expect("events.py runs");
    assert!(
        output.status.success(),
        "events.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// A bus of the test's own, and the queue its events land in.
#[derive(Debug)]
pub struct EventTap {
    pub bus: String,
    queue_url: String,
    received: Vec<Value>,
}

impl EventTap {
    pub fn create() -> Self {
        let bus = unique("bus");
        let queue_url = events_py(&["tap", &bus]).trim().to_owned();
        Self {
            bus,
            queue_url,
            received: Vec::new(),
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Every event received so far, after waiting until `count` arrived (or
    /// `timeout`) and then `settle` more, so late duplicates show too.
    pub fn wait_for(&mut self, count: usize, timeout: Duration, settle: Duration) -> &[Value] {
        let deadline = Instant::now() + timeout;
        while self.received.len() < count && Instant::now() < deadline {
            self.read(1);
        }
        let settle_until = Instant::now() + settle;
        while Instant::now() < settle_until {
            self.read(1);
        }
        &self.received
    }

    fn read(&mut self, wait_seconds: u32) {
        let text = events_py(&["read", &self.queue_url, &wait_seconds.to_string()]);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.received
                .push(serde_json::from_str(line).expect("an EventBridge event"));
        }
    }
}
