//! Leftovers of killed writers: a data set is generated into `.NAME.tmp-PID-N` and an old one
//! moved aside to `.NAME.old-PID` before the rename into place; single files go through
//! `NAME.tmp-PID` or `NAME.feather.PID.tmp`. A writer killed mid-way leaves them behind; the
//! next start removes those whose process is gone.

use std::path::Path;

/// The writer's PID in a temporary name, if the name is one of ours.
fn writer_pid(name: &str) -> Option<u32> {
    let digits = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if let Some(stem) = name.strip_suffix(".tmp") {
        // NAME.feather.PID.tmp
        return stem.rsplit_once('.').and_then(|(_, pid)| digits(pid));
    }
    if let Some((_, rest)) = name.rsplit_once(".tmp-") {
        // .NAME.tmp-PID-N or NAME.tmp-PID
        let pid = rest.split('-').next().unwrap_or("");
        return digits(pid);
    }
    name.starts_with('.')
        .then(|| name.rsplit_once(".old-"))
        .flatten()
        .and_then(|(_, pid)| digits(pid))
}

/// Whether a process with this PID exists (unknown platforms: assume it does).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return true;
        };
        if pid <= 0 {
            return true;
        }
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Removes the temporary files and directories in `dir` left by writers that are no longer
/// running (never this process's own). Returns what was removed.
pub fn clean(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        if pid == own || alive(pid) {
            continue;
        }
        let path = entry.path();
        let gone = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_temporary_files() {
        assert_eq!(writer_pid(".tw-synth-v1-seed42.tmp-123-0"), Some(123));
        assert_eq!(writer_pid(".tw-synth-v1-seed42.old-77"), Some(77));
        assert_eq!(writer_pid("price#收盤價.feather.99.tmp"), Some(99));
        assert_eq!(writer_pid("20240105.tmp-4242"), Some(4242));
        assert_eq!(writer_pid(".dsl-engine-dataset.json.tmp-5"), Some(5));
        for other in [
            "price#收盤價.feather",
            "tw-synth-v1-seed42",
            "x.old-12",
            "a.tmp-b",
        ] {
            assert_eq!(writer_pid(other), None, "{other}");
        }
        assert!(alive(std::process::id()));
    }
}
