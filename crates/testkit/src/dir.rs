//! A per-test folder for logs and data that survives a failing test.

use std::path::{Path, PathBuf};

/// A per-test folder under `<base>/<group>/<test>-<stamp>-<pid>`. Removed when the test
/// passes; kept (and its path printed) when it fails, so the logs can be read.
///
/// [`test_dir!`](crate::test_dir) makes one under cargo's `CARGO_TARGET_TMPDIR`, named after
/// the calling package.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates the folder for test `test` of `group` under `base`.
    pub fn new(base: impl AsRef<Path>, group: &str, test: &str) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = base
            .as_ref()
            .join(group)
            .join(format!("{test}-{stamp}-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create test folder {}: {e}", path.display()));
        Self { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: logs and data kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A [`TestDir`] for test `$test` under `target/tmp/<calling package>-tests` (cargo's
/// `CARGO_TARGET_TMPDIR`, which cargo sets for integration tests).
#[macro_export]
macro_rules! test_dir {
    ($test:expr) => {
        $crate::TestDir::new(
            env!("CARGO_TARGET_TMPDIR"),
            concat!(env!("CARGO_PKG_NAME"), "-tests"),
            $test,
        )
    };
}
