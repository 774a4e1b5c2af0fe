//! Opening an input: a file or stdin, plain, gzip or zstd (recognised by
//! their magic bytes, not by name), with a peek at the first bytes so the
//! format can be recognised by content.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use crate::error::{Error, Result};

/// How many decompressed bytes format detection may look at.
const HEAD_BYTES: usize = 64 * 1024;

/// An opened input: its name for messages, its first bytes, and a reader
/// that yields the whole decompressed content (head included).
pub struct Input {
    /// The name given on the command line (`-` for stdin).
    pub name: String,
    /// Up to 64 KiB of the decompressed content.
    pub head: Vec<u8>,
    /// The decompressed content from the start.
    pub reader: Box<dyn BufRead + Send>,
}

/// Opens `name` (`-` is stdin) and undoes gzip or zstd compression.
pub fn open(name: &str) -> Result<Input> {
    let raw: Box<dyn Read + Send> = if name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(name).map_err(|e| Error::io(name, e))?)
    };
    let mut raw = BufReader::with_capacity(256 * 1024, raw);
    let magic = raw.fill_buf().map_err(|e| Error::io(name, e))?;
    let decoded: Box<dyn Read + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(raw))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| Error::io(name, e))?)
    } else {
        Box::new(raw)
    };
    let mut head = Vec::with_capacity(HEAD_BYTES);
    let mut decoded = decoded;
    (&mut decoded)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::Input {
            input: name.to_string(),
            reason: format!("cannot read: {e}"),
        })?;
    let reader = BufReader::with_capacity(256 * 1024, Cursor::new(head.clone()).chain(decoded));
    Ok(Input {
        name: name.to_string(),
        head,
        reader: Box::new(reader),
    })
}

/// The first line of `head` that is not blank, without its line ending and
/// without a UTF-8 byte-order mark.
pub fn first_line(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    head.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .unwrap_or(&[])
}
