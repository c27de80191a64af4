//! `localsa decode`: print every field of an SA MAD (or a reassembled RMPP transfer).

use std::io::Read;
use std::path::PathBuf;

use localsa_core::wire::sa_packet;

use super::hex;
use super::output::{JsonPrinter, TextPrinter};
use super::CliError;

/// Options of `decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// File holding the MAD, as hex text (any whitespace, `0x` prefixes allowed) or raw bytes.
    /// Reads standard input when absent or `-`.
    pub file: Option<PathBuf>,
    /// Treat the input as raw bytes even if it looks like hex.
    #[arg(long, conflicts_with = "hex")]
    pub raw: bool,
    /// Treat the input as hex text.
    #[arg(long)]
    pub hex: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Largest input accepted: a reassembled RMPP transfer of the biggest SA table we expect
/// (64K PathRecords) fits with room to spare; anything larger is not a MAD.
const MAX_INPUT: u64 = 16 << 20;

/// Runs `decode`, returning what to print.
pub fn run(args: &DecodeArgs) -> Result<String, CliError> {
    let input = read_input(args.file.as_ref())?;
    let bytes = if args.raw || (!args.hex && !hex::looks_like_hex(&input)) {
        input
    } else {
        let text =
            std::str::from_utf8(&input).map_err(|e| CliError::Input(format!("input is not text: {e}")))?;
        hex::parse(text).map_err(|e| CliError::Input(e.to_string()))?
    };
    decode_bytes(&bytes, args.json)
}

/// Decodes `bytes` and renders the result; on a decoding error, what decoded before it is
/// returned inside the error so the caller can still show it.
pub fn decode_bytes(bytes: &[u8], json: bool) -> Result<String, CliError> {
    if json {
        let mut p = JsonPrinter::default();
        let result = sa_packet::describe(bytes, &mut p);
        let value = p.finish();
        match result {
            Ok(()) => Ok(serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"),
            Err(e) => Err(CliError::Decode { error: e, partial: String::new(), length: bytes.len() }),
        }
    } else {
        let mut p = TextPrinter::default();
        let result = sa_packet::describe(bytes, &mut p);
        let text = p.finish();
        match result {
            Ok(()) => Ok(text),
            Err(e) => Err(CliError::Decode { error: e, partial: text, length: bytes.len() }),
        }
    }
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    let result = match file {
        Some(path) if path.as_os_str() != "-" => std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut buf))
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display()))),
        _ => std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::Input(format!("standard input: {e}"))),
    };
    result?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(CliError::Input(format!("input larger than {MAX_INPUT} bytes: not a MAD")));
    }
    Ok(buf)
}
