//! The command examples of README.md and docs/*.md, run as a reader would type them.
//!
//! Convention (also at the top of docs/architecture.md): in a fenced ```` ```console ```` block,
//! every line that starts with `$ ` is a command; a trailing `\` continues it on the next line;
//! the other lines are sample output and are not compared. A command must exit 0 unless it ends
//! with a comment `# exit N`. Blocks of any other kind (` ```sh `, ` ```ini `, ` ```text `) are
//! not run: `serve`, cron lines, systemd units, `curl` against a running server.
//!
//! One `datenwart demo` database is made per backend; each file runs on its own copy of it,
//! its examples in order, with `sh` in a scratch folder that holds `policies/` (the shipped
//! ones), `services.csv`, `services-bad.csv` and `slots.csv` (from tests/fixtures), `export.mbox`,
//! the corpus `inbox/*.eml` and a `Maildir/` of six mails from people of the demo data (written
//! below). `DATABASE_URL` names the copy, `DATENWART_ACTOR` is `cli:dpo`, and `datenwart` on the
//! `PATH` is the binary under test; on PostgreSQL `DATENWART_LEDGER` names a ledger file in the
//! scratch folder (SQLite has its default beside the database).

mod common;

use common::{Kind, TestDb, fixture, repo};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

on_both_backends!(every_console_example_in_the_docs_exits_as_documented);

/// One `$ …` line of a console block.
#[derive(Debug)]
struct Example {
    file: String,
    line: usize,
    command: String,
    exit: i32,
}

/// The files whose console blocks are run, README first.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files.insert(0, repo().join("README.md"));
    files
}

fn extract(file: &str, text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_console = false;
    let mut in_other = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let fence = line.trim_start();
        if fence.starts_with("```") {
            if in_console || in_other {
                in_console = false;
                in_other = false;
            } else if fence == "```console" {
                in_console = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_console {
            continue;
        }
        let fence_indent = raw.len() - raw.trim_start().len();
        let line = &line[fence_indent.min(line.len())..];
        let (start, mut command) = match pending.take() {
            Some((start, so_far)) => (start, so_far + " " + line.trim()),
            None => match line.strip_prefix("$ ") {
                Some(cmd) => (i + 1, cmd.to_owned()),
                None => continue,
            },
        };
        if let Some(cut) = command.strip_suffix('\\') {
            pending = Some((start, cut.trim_end().to_owned()));
            continue;
        }
        command = command.trim().to_owned();
        out.push(Example {
            file: file.to_owned(),
            line: start,
            exit: expected_exit(&command),
            command,
        });
    }
    out
}

/// `… # exit 3` → 3; no such comment → 0.
fn expected_exit(command: &str) -> i32 {
    command
        .rsplit_once('#')
        .and_then(|(_, comment)| comment.trim().strip_prefix("exit "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_datenwart")
}

async fn every_console_example_in_the_docs_exits_as_documented(db: TestDb) {
    let demo = Command::new(bin())
        .args(["--database-url", &db.url, "--policies"])
        .arg(repo().join("policies"))
        .args(["-q", "demo"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run datenwart demo");
    assert!(
        demo.status.success(),
        "demo failed:\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let mut failures = Vec::new();
    let mut counted = Vec::new();
    for path in doc_files() {
        let name = path.strip_prefix(repo()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let examples = extract(&name, &text);
        counted.push((name.clone(), examples.len()));
        if examples.is_empty() {
            continue;
        }
        let copy = db.snapshot().await;
        let scratch = tempfile::tempdir().unwrap();
        prepare_scratch(scratch.path());
        for ex in &examples {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(&ex.command)
                .current_dir(scratch.path())
                .env("PATH", path_with_binary())
                .env("DATABASE_URL", &copy.url)
                .env("DATENWART_ACTOR", "cli:dpo")
                .env_remove("RUST_LOG")
                .env_remove("DATENWART_LEDGER")
                .stdin(Stdio::null());
            // PostgreSQL has no default erasure ledger; the operator sets one (operations.md).
            if copy.kind == Kind::Postgres {
                sh.env("DATENWART_LEDGER", scratch.path().join("datenwart.ledger"));
            }
            let o = sh.output().expect("run sh");
            if o.status.code() != Some(ex.exit) {
                failures.push(format!(
                    "{}:{}: `{}` exited {:?}, the docs say {}\nstdout:\n{}\nstderr:\n{}",
                    ex.file,
                    ex.line,
                    ex.command,
                    o.status.code(),
                    ex.exit,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} example(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // A renamed fence or a changed prompt would silently test nothing.
    for guide in ["docs/dpo.md", "docs/operations.md", "docs/policy.md"] {
        let n = counted.iter().find(|(f, _)| f == guide).map_or(0, |c| c.1);
        assert!(n > 0, "{guide}: no ```console example found ({counted:?})");
    }
}

fn path_with_binary() -> String {
    let dir = Path::new(bin()).parent().unwrap().display().to_string();
    match std::env::var("PATH") {
        Ok(p) => format!("{dir}:{p}"),
        Err(_) => dir,
    }
}

fn prepare_scratch(dir: &Path) {
    std::os::unix::fs::symlink(repo().join("policies"), dir.join("policies")).unwrap();
    for (from, to) in [
        ("services.csv", "services.csv"),
        ("services_bad_row.csv", "services-bad.csv"),
        ("slots.csv", "slots.csv"),
        ("mail/export.mbox", "export.mbox"),
    ] {
        std::fs::copy(fixture(from), dir.join(to)).unwrap();
    }
    std::fs::create_dir(dir.join("inbox")).unwrap();
    for entry in std::fs::read_dir(fixture("inbox")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("inbox").join(entry.file_name())).unwrap();
    }
    write_maildir(&dir.join("Maildir"));
}

/// The sample mailbox of docs/dpo.md: senders are people of `datenwart demo` (default seed).
fn write_maildir(dir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let mails = [
        (
            "cur/1763712000.M1P1.mx01:2,S",
            "nicole_poeppelmann31@mail.example",
            "buergerbuero@recklinghausen.de",
            "Widerruf meiner Einwilligung",
            "4b1e@example.net",
            "pass",
            "hiermit widerrufe ich meine Einwilligung in die Verarbeitung meiner Daten.",
        ),
        (
            "cur/1763712060.M2P1.mx01:2,S",
            "elifbauer1903@example.net",
            "geschaeftsleitung@vg-westendorf.de",
            "SMS",
            "77aa@example.org",
            "pass",
            "Bitte keine SMS-Erinnerungen mehr.",
        ),
        (
            "new/1763712120.M3P1.mx01",
            "niklas.buschmann78@example.com",
            "buergerbuero@recklinghausen.de",
            "Auskunft nach Art. 15 DSGVO",
            "9c0d@example.net",
            "pass",
            "Welche Daten haben Sie über mich gespeichert?",
        ),
        (
            "new/1763712180.M4P1.mx01",
            "petra.nowak@example.com",
            "rathaus@oer-erkenschwick.de",
            "Widerruf",
            "e51f@example.com",
            "pass",
            "Ich widerrufe meine Einwilligung.",
        ),
        (
            "new/1763712240.M5P1.mx01",
            "c.kilic19@mail.example",
            "rathaus@oer-erkenschwick.de",
            "Öffnungszeiten",
            "0f3a@example.com",
            "pass",
            "Haben Sie am Samstag geöffnet?",
        ),
        (
            "new/1763712300.M6P1.mx01",
            "tobias.bergmann114@post.example",
            "buergerbuero@recklinghausen.de",
            "Widerruf Einwilligung",
            "20261120090600.7731@mailer.example.net",
            "fail",
            "Ich widerrufe meine Einwilligung.",
        ),
    ];
    for (i, (file, from, to, subject, id, dmarc, body)) in mails.iter().enumerate() {
        let domain = from.rsplit('@').next().unwrap_or_default();
        let mail = format!(
            "Received: from mail.example.net by mx01.kommunal-it.example; Fri, 20 Nov 2026 09:0{i}:00 +0100\n\
             Authentication-Results: mx01.kommunal-it.example; dmarc={dmarc} header.from={domain}\n\
             From: {from}\nTo: {to}\nSubject: {subject}\n\
             Date: Fri, 20 Nov 2026 09:0{i}:00 +0100\nMessage-ID: <{id}>\n\
             MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\
             Content-Transfer-Encoding: 8bit\n\n\
             Sehr geehrte Damen und Herren,\n\n{body}\n\nMit freundlichen Grüßen\n"
        );
        std::fs::write(dir.join(file), mail).unwrap();
    }
}
