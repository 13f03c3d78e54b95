//! The README's tour, run as written: every shell command of its `sh` blocks against a
//! `tarp demo` (the URL swapped for the test's free port), and its Python snippet with the
//! standard-library stand-in of the Python client. A command must exit 0 unless its line ends
//! with `# exit N`.

mod cli_support;
#[allow(dead_code)]
#[path = "common/python.rs"]
mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::{run_command, temp_dir, Demo};

const README_URL: &str = "http://127.0.0.1:8080";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tour section of the README: from its heading to the next `## ` heading.
fn tour() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find("## A five-minute tour")
        .expect("the README has a five-minute tour");
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

/// The bodies of the fenced blocks of this language.
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&fence) {
        let body = &rest[i + fence.len()..];
        let end = body.find("```").expect("closed fence");
        out.push(body[..end].to_owned());
        rest = &body[end..];
    }
    out
}

/// A working directory where the README's relative paths (`tests/py/...`) resolve.
fn workdir(label: &str) -> PathBuf {
    let dir = temp_dir(label);
    std::os::unix::fs::symlink(repo().join("tests"), dir.join("tests")).expect("symlink");
    dir
}

/// `PATH` with the directory of the binary under test first (the README puts
/// `target/release` there).
fn path_with_tarp() -> String {
    let bin_dir = Path::new(cli_support::tarp_bin())
        .parent()
        .expect("binary directory")
        .to_owned();
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn tour_shell_commands_work_as_written() {
    python::require_numpy();
    let sh = blocks(&tour(), "sh");
    assert!(sh.len() >= 3, "the tour has its shell blocks: {}", sh.len());
    let curl = Command::new("curl").arg("--version").output();
    assert!(
        curl.is_ok_and(|o| o.status.success()),
        "the tour uses curl: install it (apt-get install curl)"
    );
    let demo = Demo::start(&[]);
    let dir = workdir("readme-sh");
    let mut ran = 0;
    for line in sh.iter().flat_map(|b| b.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("export PATH=") {
            continue;
        }
        let expected: i32 = match line.rsplit_once("# exit ") {
            Some((_, code)) => code
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
                .expect("a code after `# exit`"),
            None => 0,
        };
        assert!(
            line.contains(README_URL) || line.starts_with("tarp "),
            "tour command does not use the demo's URL: {line}"
        );
        let command = line.replace(README_URL, &demo.url);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &command])
            .current_dir(&dir)
            .env("PATH", path_with_tarp())
            .stdin(std::process::Stdio::null());
        let out = run_command(cmd);
        assert_eq!(
            out.code, expected,
            "README command: {line}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.stdout, out.stderr
        );
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} commands found in the tour");
    // What the commands wrote is real.
    for png in ["sine_wave.png", "plot.png"] {
        let bytes = std::fs::read(dir.join(png)).unwrap_or_else(|e| panic!("{png}: {e}"));
        cli_support::png_size(&bytes);
    }
}

#[test]
fn tour_python_snippet_runs_against_the_demo() {
    python::require_numpy();
    let snippets = blocks(&tour(), "python");
    assert_eq!(snippets.len(), 1, "one Python snippet in the tour");
    let demo = Demo::start(&[]);
    // The standard-library stand-in, importable under the Python library's name.
    let dir = workdir("readme-py");
    let pkg = dir.join("tarp");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("client.py"),
        "from python_client import client  # noqa\n",
    )
    .unwrap();
    let code = snippets[0].replace(README_URL, &demo.url);
    let mut cmd = Command::new(python::python());
    cmd.args(["-c", &code])
        .current_dir(&dir)
        .env(
            "PYTHONPATH",
            format!("{}:{}", dir.display(), python::py_dir().display()),
        )
        .stdin(std::process::Stdio::null());
    let out = run_command(cmd).expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "3",
            "array([0.  , 0.25, 0.5 , 0.75, 1.  ])",
            "in_progress",
            "3",
            "image/png b'\\x89PNG'"
        ],
        "{}",
        out.stderr
    );
}
