//! The report: the command, the date and the machine, then the workload table, the scale
//! section, the soak section, the visibility section and the growth table as Markdown (printed and written to `latest.md`), and the
//! raw measurements as JSON (`latest.json`).

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::scale::ScalePoint;
use crate::soak::SoakRun;
use crate::table::Measurement;

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) command: String,
    pub(crate) date: String,
    pub(crate) machine: String,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) scale: Vec<ScalePoint>,
    pub(crate) soak: Vec<SoakRun>,
    pub(crate) visibility: Vec<crate::visibility::VisibilityRun>,
    pub(crate) growth: Vec<crate::growth::GrowthPoint>,
    /// Cells that failed, with why; they are missing from the sections.
    pub(crate) failures: Vec<String>,
}

impl Report {
    /// An empty report of a run started with `command`, dated now, on this machine.
    pub(crate) fn new(command: String) -> Self {
        Self {
            command,
            date: now_utc(),
            machine: machine(),
            measurements: Vec::new(),
            scale: Vec::new(),
            soak: Vec::new(),
            visibility: Vec::new(),
            growth: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The report as Markdown.
    pub(crate) fn markdown(&self) -> String {
        let mut md = format!(
            "Command: `{}`\n\nRun: {} on {}\n",
            self.command, self.date, self.machine
        );
        let table = crate::table::markdown(&self.measurements);
        if !table.is_empty() {
            md.push_str("\n### Workloads\n\n");
            md.push_str(&table);
        }
        let scale = crate::scale::markdown(&self.scale);
        if !scale.is_empty() {
            md.push_str("\n### Scale: worker processes against one server\n\n");
            md.push_str(&scale);
        }
        let soak = crate::soak::markdown(&self.soak);
        if !soak.is_empty() {
            md.push_str("\n### Soak: many workflows in one run\n\n");
            md.push_str(&soak);
        }
        if !self.visibility.is_empty() {
            md.push_str("\n### Visibility: list and count with few and many closed workflows\n\n");
            md.push_str(&crate::visibility::table(&self.visibility));
        }
        if !self.growth.is_empty() {
            md.push_str("\n### Growth: costs as the server stores more workflows\n\n");
            md.push_str(&crate::growth::table(&self.growth));
        }
        if !self.failures.is_empty() {
            md.push_str("\n### Failures\n\n");
            for failure in &self.failures {
                md.push_str(&format!("- {}\n", failure.replace('\n', " ")));
            }
        }
        md
    }

    /// Prints the Markdown and writes `latest.md` and `latest.json` under `out`.
    pub(crate) fn write(&self, out: &Path) -> anyhow::Result<()> {
        let md = self.markdown();
        println!("{md}");
        std::fs::create_dir_all(out)?;
        std::fs::write(out.join("latest.md"), &md)?;
        std::fs::write(out.join("latest.json"), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// CPU model and count, memory and kernel, from `/proc`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} CPUs ({model}), {memory_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}
