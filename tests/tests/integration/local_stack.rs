//! `infra/local/up.sh` and `down.sh` on a private state folder and free ports:
//! idempotent start, a clear error on a taken port, and nothing left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should fail the test

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cog_integration_tests::{repo_root, unique, workspace_binary};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private stack: its own state folder, ports and table. Dropping it runs
/// down.sh, so a failing test leaves nothing running either.
struct PrivateStack {
    state: PathBuf,
    dynamodb_port: u16,
    kms_port: u16,
    table: String,
}

impl PrivateStack {
    fn new(dynamodb_port: u16, kms_port: u16) -> Self {
        Self {
            state: std::env::temp_dir().join(unique("cog-stack")),
            dynamodb_port,
            kms_port,
            table: unique("lifecycle"),
        }
    }

    fn script(&self, name: &str) -> Output {
        Command::new("bash")
            .arg(repo_root().join("infra/local").join(name))
            .env("COG_STATE_DIR", &self.state)
            .env("COG_DYNAMODB_PORT", self.dynamodb_port.to_string())
            .env("COG_KMS_PORT", self.kms_port.to_string())
            .env("TABLE_NAME", &self.table)
            .env("COGADMIN", workspace_binary("cogadmin"))
            .output()
            .unwrap()
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = self.script("down.sh");
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn pid(state: &Path, name: &str) -> u32 {
    std::fs::read_to_string(state.join("run").join(format!("{name}.pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn up_twice_starts_once_and_down_leaves_no_process() {
    cog_integration_tests::require_stack(); // the tools are installed by then
    let (dynamodb_port, kms_port) = (free_port(), free_port());
    let stack = PrivateStack::new(dynamodb_port, kms_port);
    let state = stack.state.clone();

    let first = stack.script("up.sh");
    assert!(first.status.success(), "{}", text(&first));
    let pids = (pid(&state, "dynamodb"), pid(&state, "kms"));
    let env = std::fs::read_to_string(state.join("stack.env")).unwrap();
    assert!(env.contains(&format!(
        "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:{dynamodb_port}"
    )));
    assert!(env.contains(&format!("AWS_ENDPOINT_URL_KMS=http://127.0.0.1:{kms_port}")));
    assert!(env.contains("PEPPER_KEY_ID=arn:aws:kms:"));

    let second = stack.script("up.sh");
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("already running"),
        "{}",
        text(&second)
    );
    assert_eq!((pid(&state, "dynamodb"), pid(&state, "kms")), pids);
    // The second bootstrap found the table and pepper and made neither again.
    assert!(
        text(&second).contains(r#""pepper_created":null"#),
        "{}",
        text(&second)
    );
    assert!(
        text(&second).contains(r#""table_created":false"#),
        "{}",
        text(&second)
    );

    let down = stack.script("down.sh");
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        !alive(pids.0) && !alive(pids.1),
        "a stack process survived down.sh"
    );
    assert!(TcpListener::bind(("127.0.0.1", dynamodb_port)).is_ok());
    assert!(TcpListener::bind(("127.0.0.1", kms_port)).is_ok());
    assert!(!state.join("stack.env").exists());
}

#[test]
fn a_taken_port_is_a_clear_error_and_starts_nothing() {
    cog_integration_tests::require_stack();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // The KMS port is the taken one: DynamoDB Local must not be started either.
    let stack = PrivateStack::new(free_port(), port);
    let state = stack.state.clone();

    let up = stack.script("up.sh");
    let output = text(&up);
    assert!(!up.status.success());
    assert!(
        output.contains(&format!("port {port} for kms is taken"))
            && output.contains("COG_KMS_PORT"),
        "{output}"
    );
    assert!(!state.join("run/dynamodb.pid").exists());
    assert!(!state.join("run/kms.pid").exists());
}
