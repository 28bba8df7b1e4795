//! Who holds a long job's claim (the retention lock, a bulk load's deferred indexes): a
//! description naming the process and its host, and whether that process is gone.

/// The description of this process as a holder: `ACTOR, pid PID on HOST`.
pub fn describe(actor: &str) -> String {
    format!("{actor}, pid {} on {}", std::process::id(), host())
}

/// This machine's name, for the lock holder's description.
pub fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The process id in a holder description ("…, pid 4711 on web1 […]") when it names
/// this host.
fn local_pid(holder: &str, host: &str) -> Option<u32> {
    let (_, rest) = holder.rsplit_once(", pid ")?;
    let (pid, rest) = rest.split_once(" on ")?;
    let named = rest.split_once(" [").map_or(rest, |(h, _)| h);
    (named == host).then(|| pid.parse().ok()).flatten()
}

/// Whether the holder's process still runs, where that can be seen: a process of this
/// host (this one included), on Linux (`/proc`). `None` for another host, or without `/proc`.
fn lives(holder: &str, host: &str) -> Option<bool> {
    let pid = local_pid(holder, host)?;
    if pid == std::process::id() {
        return Some(true);
    }
    let proc = std::path::Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Whether the holder is a process of this host that no longer exists. Only where
/// `/proc` tells (Linux); elsewhere, and for other hosts, the lease has to run out.
pub fn is_gone(holder: &str, host: &str) -> bool {
    lives(holder, host) == Some(false)
}

/// Whether the holder is a process of this host that still runs (this one included).
/// Where `/proc` cannot tell (not Linux), and for other hosts, it cannot be known: false.
pub fn runs_here(holder: &str, host: &str) -> bool {
    lives(holder, host) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_names_its_process_only_on_its_own_host() {
        let h = "cron:retention, pid 4711 on web1 [1a2b3c4d]";
        assert_eq!(local_pid(h, "web1"), Some(4711));
        assert_eq!(local_pid(h, "web2"), None);
        assert_eq!(local_pid("someone else", "web1"), None);
        assert_eq!(local_pid("a, pid x on web1 [1]", "web1"), None);
    }

    #[test]
    fn a_living_process_is_not_gone() {
        let me = format!("t, pid {} on h [x]", std::process::id());
        assert!(!is_gone(&me, "h"));
        assert!(!is_gone("t, pid 1 on h [x]", "h"), "pid 1 always exists");
        assert!(!is_gone("t, pid 1 on other [x]", "h"));
    }

    #[test]
    fn a_holder_runs_here_only_while_its_process_lives_on_this_host() {
        assert!(runs_here(&describe("t"), &host()));
        assert!(runs_here("t, pid 1 on h", "h"), "pid 1 always exists");
        assert!(
            !runs_here("t, pid 1 on other", "h"),
            "another host cannot be seen"
        );
        assert!(
            !runs_here("t, pid 4194305 on h", "h"),
            "above Linux's pid_max"
        );
        assert!(!runs_here("no pid at all", "h"));
    }
}
