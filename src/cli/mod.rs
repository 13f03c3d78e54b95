//! Command-line parsing, exit codes and error reporting of the `tarp` command.

mod client;
mod logger;
mod output;
mod serve;
mod suggest;
mod value;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, as `--help` shows them.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  local failure (cannot write the output file, cannot start the server)
  2  usage: bad command line, bad argument value, wrong kind of endpoint
  3  cannot reach the server (connection refused, DNS, TLS, connect timeout)
  4  not found: unknown endpoint (near names are listed) or unknown job ID
  5  the server refused the arguments (HTTP 400)
  6  remote failure: the function raised, the job failed, or the server is in an
     invalid state (the error type and message are printed)
  7  operation in progress: the server asks to retry later (HTTP 503), or the job
     is still running (tarp job without --wait)
  8  timed out (--timeout)
  9  protocol error: the answer is not TARP";

const EXAMPLES: &str = "\
Examples:
  tarp demo                                          serve the demo on http://127.0.0.1:8080
  tarp ls http://127.0.0.1:8080                      list its endpoints
  tarp call http://127.0.0.1:8080 my_function 1 2    call an RPC (prints 3)
  tarp call http://127.0.0.1:8080 rpcExample 5 -k upper=1
  tarp get http://127.0.0.1:8080 get_plot -o plot.png";

const VALUES: &str = "\
Argument values (ARG and -k KEY=VALUE of `call`):
  read as JSON when they parse (1, 2.5, \"text\", [1, 2], {\"a\": 1}, null, true),
  Python's None, True and False are accepted too, anything else is a string.
  Query parameters (KEY=VALUE of `get` and `post`) are sent as text.";

/// Calls TARP servers (wire-compatible with the Python TARP library) and serves a demo.
#[derive(Debug, Parser)]
#[command(
    name = "tarp",
    version,
    about,
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"),
    after_long_help = format!("{EXAMPLES}\n\n{VALUES}\n\n{EXIT_CODES}"),
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the demo service: every endpoint of the Python library's README and example
    /// server (RPC, async RPC, GET, POST, a PNG plot).
    #[command(after_help = EXIT_CODES)]
    Demo(DemoArgs),
    /// List a server's endpoints, grouped by kind, with signatures and descriptions.
    #[command(after_help = EXIT_CODES)]
    Ls(LsArgs),
    /// Call an RPC endpoint; async endpoints are waited for unless --no-wait.
    #[command(after_help = EXIT_CODES, after_long_help = format!("{VALUES}\n\n{EXIT_CODES}"))]
    Call(CallArgs),
    /// Probe an async job, or wait for it and print its result.
    #[command(after_help = EXIT_CODES)]
    Job(JobArgs),
    /// Call a web-like GET endpoint with query parameters.
    #[command(after_help = EXIT_CODES)]
    Get(GetArgs),
    /// Call a web-like POST endpoint with query parameters and a body.
    #[command(after_help = EXIT_CODES)]
    Post(PostArgs),
    /// Print a shell completion script for tarp, e.g.
    /// `tarp completions bash > ~/.local/share/bash-completion/completions/tarp`.
    Completions(CompletionsArgs),
}

/// Arguments of `tarp completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
}

/// Which server implementation `tarp demo` runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// Threads (tarp-blocking).
    Blocking,
    /// The smol executor (tarp-smol).
    Smol,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Blocking => "blocking",
            Runtime::Smol => "smol",
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Address to listen on (0.0.0.0 for all interfaces).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    bind: String,
    /// Port to listen on (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8080, value_name = "N")]
    port: u16,
    /// Server implementation.
    #[arg(long, value_enum, default_value_t = Runtime::Blocking)]
    runtime: Runtime,
    /// Serve HTTPS with this PEM certificate (chain).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Simulated work time of my_long_function, rpcExample, asyncRPCExample and the
    /// generateData window, in seconds.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = parse_seconds)]
    delay: std::time::Duration,
}

/// Options of every command that talks to a server.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientOpts {
    /// Trust this PEM certificate (a CA, or the server's self-signed certificate) for https://
    /// (the Python client's server_key).
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Give up after this many seconds: on connecting, on any one request, and on waiting
    /// for an async job. Default: 10 s to connect, 300 s per request, no limit on waiting.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Server URL, e.g. http://127.0.0.1:8080 (credentials as http://user:pass@host:port).
    url: String,
    /// Print the discovery document as JSON instead.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    opts: ClientOpts,
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub(crate) struct CallArgs {
    /// Server URL.
    url: String,
    /// Endpoint name.
    name: String,
    /// Positional arguments (JSON, None/True/False, or text).
    #[arg(value_name = "ARG")]
    args: Vec<String>,
    /// A keyword argument (repeatable).
    #[arg(short = 'k', long = "kwarg", value_name = "KEY=VALUE")]
    kwargs: Vec<String>,
    /// For an async endpoint: print the job ID and return at once (see `tarp job`).
    #[arg(long)]
    no_wait: bool,
    /// Write the result to FILE (bytes raw, anything else as JSON).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    opts: ClientOpts,
}

#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    /// Server URL.
    url: String,
    /// The job ID printed by `tarp call --no-wait`.
    id: String,
    /// Wait for the job to finish (progress on stderr), then print its result.
    #[arg(long)]
    wait: bool,
    /// Write the result to FILE (bytes raw, anything else as JSON).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    opts: ClientOpts,
}

#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Server URL.
    url: String,
    /// Endpoint name.
    name: String,
    /// Query parameters.
    #[arg(value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Write the result to FILE (raw payloads and bytes as they are, JSON as text).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    opts: ClientOpts,
}

#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    /// Server URL.
    url: String,
    /// Endpoint name.
    name: String,
    /// Query parameters.
    #[arg(value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Send this JSON as the body (application/json); @FILE reads it from a file, @- from
    /// standard input.
    #[arg(long, value_name = "DATA", conflicts_with = "data")]
    json: Option<String>,
    /// Send these bytes as the body (application/octet-stream); @FILE reads them from a
    /// file, @- from standard input.
    #[arg(long, value_name = "DATA")]
    data: Option<String>,
    /// Write the result to FILE (raw payloads and bytes as they are, JSON as text).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    opts: ClientOpts,
}

/// A number of seconds: finite, not negative, at most a day.
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s} is outside 0 to 86400 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Why a command failed: the exit code and the one line printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Local = 1,
    Usage = 2,
    Unreachable = 3,
    NotFound = 4,
    BadArgument = 5,
    Remote = 6,
    InProgress = 7,
    Timeout = 8,
    Protocol = 9,
}

/// A failed command: its exit code and its one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

pub(crate) type CmdResult = Result<(), Failure>;

/// Writes the completion script for `shell` to stdout.
fn completions(shell: clap_complete::Shell) -> CmdResult {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tarp", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script).map_err(|e| {
        Failure::new(
            Exit::Local,
            format!("cannot write the completion script: {e}"),
        )
    })
}

/// Runs the command line of this process; returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage as i32
            } else {
                0
            };
        }
    };
    let result = match cli.command {
        Command::Demo(a) => serve::demo(a),
        Command::Ls(a) => client::ls(a),
        Command::Call(a) => client::call(a),
        Command::Job(a) => client::job(a),
        Command::Get(a) => client::get(a),
        Command::Post(a) => client::post(a),
        Command::Completions(a) => completions(a.shell),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            output::clear_progress();
            eprintln!("tarp: {}", one_line(&f.message));
            f.exit as i32
        }
    }
}

/// Text from a server made safe for a terminal: newlines and tabs become spaces, other
/// control characters (escape sequences could rewrite the screen) are shown escaped.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(one_line("a\nb\r\tc"), "a b  c");
        assert_eq!(one_line("\x1b[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(one_line("héllo"), "héllo");
    }

    #[test]
    fn seconds_are_bounded() {
        assert_eq!(
            parse_seconds("1.5").unwrap(),
            std::time::Duration::from_millis(1500)
        );
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("nan").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("1e9").is_err());
        assert!(parse_seconds("x").is_err());
    }

    #[test]
    fn negative_numbers_are_arguments() {
        let cli =
            Cli::try_parse_from(["tarp", "call", "http://h", "f", "-1", "-2.5", "-k", "a=-3"])
                .unwrap();
        let Command::Call(a) = cli.command else {
            panic!("not a call")
        };
        assert_eq!(a.args, ["-1", "-2.5"]);
        assert_eq!(a.kwargs, ["a=-3"]);
    }

    #[test]
    fn help_documents_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        for code in 0..=9 {
            assert!(help.contains(&format!("\n  {code}  ")), "exit code {code}");
        }
    }
}
