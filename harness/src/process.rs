//! The process commands of an external target (`kind.process` in its target file): shell
//! commands that stop, kill, start, pause and resume a broker, and print its log.
//!
//! Each runs as `sh -c <command>` with `{broker}` replaced by the node id, stdin closed, and
//! its stdout and stderr read by the harness to their end. The contract, written out for users
//! in `fixtures/targets/README.md` and `harness/INTERPRETING.md`, and enforced here:
//!
//! - **Return once the work is done**: `start` once the broker accepts connections, `stop` and
//!   `kill` once it is gone, `pause` and `resume` once the signal is sent, `log` once printed.
//!   A command still running at the deadline is ended with its whole process group.
//! - **Hold nothing open.** The end of the command is the end of its output: a broker left in
//!   the background holding the command's stdout or stderr keeps the output open long after
//!   the shell exits, so it must be detached with its output redirected
//!   (`setsid broker >log 2>&1 &`). This is told apart from a command that is still running.
//! - **Exit 0 when done.** Any other status is a failed command, reported with the command,
//!   the broker and the end of its stderr.
//!
//! A broken contract is harness trouble, never a verdict on the broker: the scenario ends as an
//! error whose message names the rule.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// What a process command is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Stop,
    Kill,
    Start,
    Pause,
    Resume,
    Log,
    Status,
}

impl Action {
    /// The command's field name in the target file.
    pub fn name(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Kill => "kill",
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Log => "log",
            Action::Status => "status",
        }
    }

    /// The rule a command that does not return in time has probably broken.
    fn rule(self) -> &'static str {
        match self {
            Action::Start => "`start` must return once the broker accepts connections",
            Action::Stop | Action::Kill => "`stop` and `kill` must return once the broker is gone",
            Action::Pause | Action::Resume => "`pause` and `resume` must return once the signal is sent",
            Action::Log => "`log` must print the broker's log and return",
            Action::Status => "`status` must say at once whether the broker runs",
        }
    }
}

/// A process command that broke the contract or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot run the {action} command for broker {node} (`{command}`) with sh: {source}")]
    Spawn { action: &'static str, node: i32, command: String, source: std::io::Error },
    #[error("the {action} command for broker {node} (`{command}`) did not return within {ms} ms: {rule}{stderr}")]
    StillRunning { action: &'static str, node: i32, command: String, ms: u64, rule: &'static str, stderr: String },
    #[error(
        "the {action} command for broker {node} (`{command}`) returned, but something it started still holds its \
         stdout/stderr: start the broker detached, with its output redirected (`setsid broker >log 2>&1 &`){stderr}"
    )]
    HoldsOutput { action: &'static str, node: i32, command: String, stderr: String },
    #[error("the {action} command for broker {node} (`{command}`) failed ({status}){stderr}")]
    Failed { action: &'static str, node: i32, command: String, status: String, stderr: String },
}

/// How much of a command's stdout is kept (its end): enough for a log's last few hundred lines.
const STDOUT_KEPT: usize = 256 * 1024;
/// How much of its stderr is kept for an error message.
const STDERR_KEPT: usize = 16 * 1024;
/// Lines of stderr an error message shows.
const STDERR_LINES: usize = 20;
/// How long the output may stay open after the shell exits: what a command's last writes need,
/// never what a broker left in the background needs.
const OUTPUT_GRACE: Duration = Duration::from_millis(1000);

/// The end of a stream, at most `limit` bytes, filled as it is read.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<Vec<u8>>>);

impl Tail {
    fn push(&self, bytes: &[u8], limit: usize) {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        buf.extend_from_slice(bytes);
        if buf.len() > limit {
            let excess = buf.len() - limit;
            buf.drain(..excess);
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

async fn drain(mut from: impl AsyncRead + Unpin, into: Tail, limit: usize) {
    let mut chunk = [0u8; 8192];
    while let Ok(n) = from.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        into.push(&chunk[..n], limit);
    }
}

/// "; its stderr ends:" and the last lines, or nothing when it printed nothing.
fn stderr_note(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(STDERR_LINES)..];
    format!("; its stderr ends:\n  {}", tail.join("\n  "))
}

/// Runs `template` for broker `node`, holding it to the contract, and returns the end of its
/// stdout (what `log` printed).
pub async fn run(template: &str, action: Action, node: i32, timeout: Duration) -> Result<String, CommandError> {
    let command = template.replace("{broker}", &node.to_string());
    let name = action.name();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a command that overstays is ended with what it started
        // in the foreground; a broker it detached (setsid) is in another session and lives on.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| CommandError::Spawn { action: name, node, command: command.clone(), source })?;
    let (out, err) = (Tail::default(), Tail::default());
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(drain(stdout, out.clone(), STDOUT_KEPT)));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(drain(stderr, err.clone(), STDERR_KEPT)));
    }
    let stop_reading = |readers: &[tokio::task::JoinHandle<()>]| readers.iter().for_each(|r| r.abort());
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(source)) => {
            stop_reading(&readers);
            return Err(CommandError::Spawn { action: name, node, command, source });
        }
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::SIGKILL);
            }
            let _ = child.kill().await;
            stop_reading(&readers);
            return Err(CommandError::StillRunning {
                action: name,
                node,
                command,
                ms: timeout.as_millis() as u64,
                rule: action.rule(),
                stderr: stderr_note(&err.text()),
            });
        }
    };
    let closed = tokio::time::timeout(OUTPUT_GRACE, futures::future::join_all(readers.iter_mut())).await.is_ok();
    stop_reading(&readers);
    let stderr = stderr_note(&err.text());
    if !status.success() {
        return Err(CommandError::Failed { action: name, node, command, status: status.to_string(), stderr });
    }
    if !closed {
        return Err(CommandError::HoldsOutput { action: name, node, command, stderr });
    }
    Ok(out.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(3000);

    #[tokio::test]
    async fn a_command_that_returns_passes_its_output_on() {
        let out = run("echo broker {broker}", Action::Log, 7, SHORT).await.expect("ran");
        assert_eq!(out, "broker 7\n");
    }

    #[tokio::test]
    async fn a_detached_background_process_with_redirected_output_is_fine() {
        let started = std::time::Instant::now();
        run("setsid sleep 5 >/dev/null 2>&1 &", Action::Start, 1, SHORT).await.expect("returned");
        assert!(started.elapsed() < Duration::from_secs(2), "waited for the background process");
    }

    #[tokio::test]
    async fn a_background_process_holding_the_output_is_named_as_such() {
        let started = std::time::Instant::now();
        let err = run("sleep 5 &", Action::Start, 2, SHORT).await.expect_err("holds the output").to_string();
        assert!(started.elapsed() < SHORT, "took the whole timeout to notice: {err}");
        assert!(err.contains("the start command for broker 2 (`sleep 5 &`) returned"), "{err}");
        assert!(err.contains("still holds its stdout/stderr") && err.contains("setsid broker >log 2>&1 &"), "{err}");
    }

    #[tokio::test]
    async fn a_command_still_running_at_the_deadline_says_which_rule() {
        let err = run("echo starting >&2; sleep 5", Action::Start, 3, Duration::from_millis(300))
            .await
            .expect_err("times out")
            .to_string();
        assert!(err.contains("did not return within 300 ms"), "{err}");
        assert!(err.contains("`start` must return once the broker accepts connections"), "{err}");
        assert!(err.contains("starting"), "the stderr so far is shown: {err}");
        let err = run("sleep 5", Action::Kill, 3, Duration::from_millis(300)).await.expect_err("times out").to_string();
        assert!(err.contains("`stop` and `kill` must return once the broker is gone"), "{err}");
    }

    #[tokio::test]
    async fn a_non_zero_exit_names_the_command_the_broker_and_the_stderr_tail() {
        let script = "for i in $(seq 1 30); do echo line $i >&2; done; exit 3";
        let err = run(script, Action::Stop, 4, SHORT).await.expect_err("fails").to_string();
        assert!(err.contains("the stop command for broker 4"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(err.contains("line 30") && err.contains("line 11") && !err.contains("line 10\n"), "{err}");
    }

    #[tokio::test]
    async fn a_chatty_command_is_not_blocked_by_a_full_pipe_and_its_output_is_bounded() {
        let out = run("seq 1 200000", Action::Log, 1, Duration::from_secs(10)).await.expect("ran");
        assert!(out.len() <= STDOUT_KEPT && out.ends_with("200000\n"), "{}", out.len());
    }
}
