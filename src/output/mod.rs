//! Writing results: a terminal table, CSV, JSON, JSON lines or Parquet.
//! Text formats show times as RFC 3339 UTC (`2024-04-19T00:10:00Z`).

pub(crate) mod text;

use text::Lists;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::pretty::pretty_format_batches_with_schema;
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};

/// Result formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table for people.
    Table,
    /// CSV with a header; lists as JSON arrays.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Parquet (needs --output).
    Parquet,
}

impl OutputFormat {
    /// The format for `--format` left out: from the output file's extension,
    /// else a table on a terminal and JSON lines otherwise.
    pub fn choose(explicit: Option<OutputFormat>, output: Option<&Path>) -> OutputFormat {
        if let Some(f) = explicit {
            return f;
        }
        let by_extension = output.and_then(|p| p.extension()).and_then(|e| e.to_str()).and_then(|e| {
            match e.to_ascii_lowercase().as_str() {
                "csv" => Some(OutputFormat::Csv),
                "json" => Some(OutputFormat::Json),
                "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
                "parquet" => Some(OutputFormat::Parquet),
                "txt" => Some(OutputFormat::Table),
                _ => None,
            }
        });
        match (by_extension, output) {
            (Some(f), _) => f,
            (None, None) if io::stdout().is_terminal() => OutputFormat::Table,
            _ => OutputFormat::Jsonl,
        }
    }
}

/// Writes `batches` in `format` to `output` (stdout when `None`).
pub fn write(schema: &SchemaRef, batches: &[RecordBatch], format: OutputFormat, output: Option<&Path>) -> Result<()> {
    let name = output.map_or_else(|| "stdout".into(), |p| p.display().to_string());
    let io_error = |e: io::Error| Error::io(name.clone(), e);
    let mut sink: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(io::BufWriter::new(File::create(path).map_err(io_error)?)),
        None if format == OutputFormat::Parquet && io::stdout().is_terminal() => {
            return Err(Error::parameter("format", "parquet", "writes binary data: give --output FILE"));
        }
        None => Box::new(io::BufWriter::new(io::stdout())),
    };
    match format {
        OutputFormat::Parquet => {
            let mut writer = ArrowWriter::try_new(&mut sink, schema.clone(), None)?;
            for batch in batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
        OutputFormat::Table => {
            let (schema, batches) = text::for_text(schema, batches, Lists::Short)?;
            writeln!(sink, "{}", pretty_format_batches_with_schema(schema, &batches)?).map_err(io_error)?;
        }
        OutputFormat::Csv => {
            let (text_schema, mut batches) = text::for_text(schema, batches, Lists::Json)?;
            if batches.is_empty() {
                // The header alone says which columns there would have been.
                batches.push(RecordBatch::new_empty(text_schema));
            }
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut sink);
            for batch in &batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let (_, batches) = text::for_text(schema, batches, Lists::Keep)?;
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut sink);
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(sink).map_err(io_error)?;
        }
        OutputFormat::Jsonl => {
            let (_, batches) = text::for_text(schema, batches, Lists::Keep)?;
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut sink);
            for batch in &batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    sink.flush().map_err(io_error)
}
