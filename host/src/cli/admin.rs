//! Talking to a running daemon over its admin socket (`docs/protocol.md`): one request line,
//! then answer lines until the one that ends it (`"ok"` or `"error"`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::CliError;
use crate::daemon::config::{parse_duration, DEFAULT_ADMIN_SOCKET};
use crate::daemon::protocol::Request;

/// Options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// The daemon's admin socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ADMIN_SOCKET)]
    pub socket: PathBuf,
    /// How long to wait for the daemon's answer.
    #[arg(long = "wait", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub wait: Duration,
}

/// An open connection.
#[derive(Debug)]
pub struct Connection {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
    socket: PathBuf,
}

impl Connection {
    /// Connects to the daemon.
    pub fn open(args: &AdminArgs) -> Result<Connection, CliError> {
        let stream = UnixStream::connect(&args.socket).map_err(|e| {
            let msg = format!("cannot connect to the localsa daemon at {}: {e}", args.socket.display());
            match e.kind() {
                std::io::ErrorKind::PermissionDenied => CliError::NoPermission(msg),
                _ => CliError::Unavailable(format!("{msg} (is `localsa daemon` running?)")),
            }
        })?;
        let io = |e: std::io::Error| CliError::Unavailable(format!("admin socket: {e}"));
        stream.set_read_timeout(Some(args.wait)).map_err(io)?;
        stream.set_write_timeout(Some(args.wait)).map_err(io)?;
        let reader = BufReader::new(stream.try_clone().map_err(io)?);
        Ok(Connection { writer: stream, reader, next_id: 1, socket: args.socket.clone() })
    }

    /// The same connection with no read timeout (for the event stream).
    pub fn without_timeout(self) -> Result<Connection, CliError> {
        self.writer
            .set_read_timeout(None)
            .map_err(|e| CliError::Unavailable(format!("admin socket: {e}")))?;
        Ok(self)
    }

    /// Sends `request`; returns its id.
    pub fn send(&mut self, request: &Request) -> Result<u64, CliError> {
        let mut v = serde_json::to_value(request).map_err(|e| CliError::Usage(e.to_string()))?;
        let id = self.next_id;
        self.next_id += 1;
        if let Value::Object(m) = &mut v {
            m.insert("id".into(), Value::from(id));
        }
        let mut line = v.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes()).map_err(|e| self.lost(e))?;
        Ok(id)
    }

    /// The next line from the daemon.
    pub fn next_line(&mut self) -> Result<Value, CliError> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(CliError::Protocol(format!(
                "the daemon at {} closed the connection",
                self.socket.display()
            ))),
            Ok(_) => serde_json::from_str(&line)
                .map_err(|e| CliError::Protocol(format!("the daemon sent something that is not JSON: {e}"))),
            Err(e) => Err(self.lost(e)),
        }
    }

    fn lost(&self, e: std::io::Error) -> CliError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                CliError::Timeout(format!("no answer from the daemon at {}", self.socket.display()))
            }
            _ => CliError::Unavailable(format!("admin socket {}: {e}", self.socket.display())),
        }
    }

    /// Sends `request` and collects its answer lines; the last is the final one. An error
    /// answer becomes [`CliError::Answer`].
    pub fn call(&mut self, request: &Request) -> Result<Vec<Value>, CliError> {
        let id = self.send(request)?;
        let mut lines = Vec::new();
        loop {
            let v = self.next_line()?;
            if v.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // an event line, or an answer to something else
            }
            if let Some(err) = v.get("error") {
                return Err(answer_error(err));
            }
            let last = v.get("ok").is_some();
            lines.push(v);
            if last {
                return Ok(lines);
            }
        }
    }
}

/// A daemon error object as a CLI error.
pub fn answer_error(err: &Value) -> CliError {
    CliError::Answer {
        code: err.get("code").and_then(Value::as_str).unwrap_or("error").to_owned(),
        message: err.get("message").and_then(Value::as_str).unwrap_or("").to_owned(),
    }
}

/// One request, its final answer line.
pub fn call_once(args: &AdminArgs, request: &Request) -> Result<Value, CliError> {
    let mut c = Connection::open(args)?;
    let mut lines = c.call(request)?;
    lines.pop().ok_or_else(|| CliError::Protocol("empty answer".into()))
}

/// Pretty JSON with a newline.
pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `v` without the protocol's bookkeeping (`id`, `ok`).
pub fn payload(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("id");
        m.remove("ok");
    }
    v
}
