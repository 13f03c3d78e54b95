//! Replays the checked-in fuzz seed corpora (and anything added there, such as inputs that
//! once crashed) through the same checks the fuzz targets run.

use std::path::{Path, PathBuf};

use tarp_core::http::check::check_server_stream;
use tarp_core::http::check::{check_client_input, check_server_input};
use tarp_core::http::Limits;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn server_corpus() {
    let files = corpus("http_server");
    assert!(files.len() >= 12, "only {} seeds", files.len());
    for (path, bytes) in &files {
        eprintln!("{}", path.display());
        check_server_input(bytes);
    }
}

#[test]
fn client_corpus() {
    let files = corpus("http_client");
    assert!(files.len() >= 12, "only {} seeds", files.len());
    for (path, bytes) in &files {
        eprintln!("{}", path.display());
        check_client_input(bytes);
    }
}

#[test]
fn smuggling_seeds_never_serve_the_smuggled_request() {
    for (path, bytes) in corpus("http_server") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("smuggle_")
            && !name.starts_with("chunk_")
            && !name.starts_with("bare_")
        {
            continue;
        }
        let run = check_server_stream(&bytes, &Limits::default());
        assert!(run.error.is_some(), "{name} was accepted");
        assert!(
            run.requests.iter().all(|r| r.path() != "/smuggled"),
            "{name} smuggled a request"
        );
    }
}
