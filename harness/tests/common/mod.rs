//! What several test binaries share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A reference broker started by hand: for the harness it is an external target.
pub struct ExternalBroker {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl ExternalBroker {
    pub fn start() -> ExternalBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-conformance"))
            .args(["reference", "broker", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn broker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("address line");
        ExternalBroker { child, addr: line.trim().to_string(), _dir: dir }
    }
}

impl Drop for ExternalBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
