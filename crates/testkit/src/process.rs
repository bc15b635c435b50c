//! The workspace's binaries as real processes, for fault tests.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running binary of the workspace. Killed (SIGKILL) on drop.
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// Where cargo put the workspace's binaries: next to the test executable's `deps/` folder.
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    if !path.is_file() {
        panic!(
            "binary {} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
            path.display()
        );
    }
    path
}

impl Process {
    /// Starts binary `name` with extra environment `env`; its output goes to `log_dir`.
    pub fn spawn(name: &str, env: &[(&str, String)], log_dir: &std::path::Path) -> Self {
        let log = log_dir.join(format!("{name}-{}.log", crate::free_port()));
        let out = File::create(&log).expect("create a log file");
        let err = out.try_clone().expect("clone the log file handle");
        let mut command = Command::new(binary_path(name));
        command
            .env_remove("WORKFLOW_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `url` (its `/readyz`) until it answers 200 and returns how long that took;
    /// panics with the process output if it exits first or `timeout` passes.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Duration {
        let started = Instant::now();
        loop {
            if let Ok(response) = http.get(url).send().await
                && response.status() == reqwest::StatusCode::OK
            {
                return started.elapsed();
            }
            if let Some(status) = self.wait_exit(Duration::ZERO) {
                panic!(
                    "{} exited ({status}) before it was ready; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            if started.elapsed() > timeout {
                panic!(
                    "{} not ready on {url} after {timeout:?}; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not exit within {timeout:?} of SIGTERM; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_hard();
    }
}
