//! Real clients nobody here wrote, against a real `kafka-reference broker` process: kcat
//! (Debian's, librdkafka 2.0.2), confluent-kafka and kafka-python. `ci/setup.sh` installs them;
//! a missing client fails the test with that instruction rather than skipping it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Broker {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(extra: &[&str]) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
            .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kafka-reference");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the address line");
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "the first line is the bound address, got {line:?}");
        Broker { child, addr, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(program: &str) {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().is_ok_and(|o| o.status.success());
    assert!(found, "{program} is not installed: run `bash ci/setup.sh` (CI does this in .ci/run)");
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kcat_produces_and_consumes_with_every_codec() {
    require("kcat");
    let broker = Broker::start(&[]);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        let input: String = (0..20).map(|i| format!("k{i}:{codec}-{i}\n")).collect();
        run(
            Command::new("kcat").args(["-b", &broker.addr, "-P", "-t", &topic, "-p", "0", "-K:", "-z", codec]),
            Some(&input),
        );
        let out = run(
            Command::new("kcat").args([
                "-b",
                &broker.addr,
                "-C",
                "-t",
                &topic,
                "-p",
                "0",
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k:%s\\n",
            ]),
            None,
        );
        assert_eq!(out, input, "kcat read back something else with compression {codec}");
    }
}

#[test]
fn python_clients_produce_and_consume() {
    require("python3");
    let check = Command::new("python3").args(["-c", "import confluent_kafka, kafka"]).output().expect("python3");
    assert!(check.status.success(), "confluent-kafka or kafka-python is missing: run `bash ci/setup.sh`");
    let broker = Broker::start(&[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_python.py");
    let out = run(Command::new("python3").arg(script).args([&broker.addr, "interop"]), None);
    assert!(out.contains("ok:"), "{out}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut broker = Broker::start(&[]);
    let pid = broker.child.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]), None);
    let status = broker.child.wait().expect("wait");
    assert!(status.success(), "SIGTERM must end the broker with status 0, got {status}");
}

#[test]
fn help_explains_every_flag() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_kafka-reference")).args(["broker", "--help"]), None);
    for flag in ["--listen", "--data-dir", "--advertise", "--config", "--defect"] {
        assert!(out.contains(flag), "--help does not explain {flag}:\n{out}");
    }
}

#[test]
fn a_bad_config_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--config", "log.segment.bytez=1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log.segment.bytez") && err.contains("log.segment.bytes"), "{err}");
}

#[test]
fn an_unknown_defect_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--defect", "no-such-defect"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-defect"), "{err}");
}
