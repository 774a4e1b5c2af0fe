//! Making batches printable: times as RFC 3339 UTC text, and (for CSV and
//! tables) lists as text.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::Result;
use crate::time::format_utc;

/// How lists are shown in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// Kept as lists (JSON formats write them as arrays).
    Keep,
    /// Whole, as JSON array text (CSV).
    Json,
    /// The first few items and a count of the rest (terminal tables).
    Short,
}

/// Items shown of a list in a table before "+N more".
const SHORT_ITEMS: usize = 8;

/// `schema` and `batches` with timestamps as RFC 3339 text and lists as `lists` says.
pub fn for_text(schema: &SchemaRef, batches: &[RecordBatch], lists: Lists) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let convert = |field: &Field| match field.data_type() {
        DataType::Timestamp(_, _) => true,
        DataType::List(_) | DataType::LargeList(_) => lists != Lists::Keep,
        _ => false,
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| if convert(f) { Field::new(f.name(), DataType::Utf8, true) } else { f.as_ref().clone() })
        .collect();
    let out_schema = Arc::new(Schema::new(fields));
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            columns.push(match field.data_type() {
                DataType::Timestamp(_, _) => timestamps_as_text(column)?,
                DataType::List(_) | DataType::LargeList(_) if lists != Lists::Keep => list_as_text(column, lists)?,
                _ => column.clone(),
            });
        }
        out.push(RecordBatch::try_new(out_schema.clone(), columns)?);
    }
    Ok((out_schema, out))
}

fn timestamps_as_text(column: &ArrayRef) -> Result<ArrayRef> {
    let micros = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let micros = micros.as_primitive::<TimestampMicrosecondType>();
    Ok(Arc::new(micros.iter().map(|v| v.map(format_utc)).collect::<StringArray>()))
}

fn list_as_text(column: &ArrayRef, lists: Lists) -> Result<ArrayRef> {
    let list = cast(column, &DataType::List(Arc::new(Field::new_list_field(column_child_type(column), true))))?;
    let list = list.as_list::<i32>();
    let options = FormatOptions::default();
    let mut texts = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        if list.is_null(i) {
            texts.push(None);
            continue;
        }
        let values = list.value(i);
        let quoted = matches!(values.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
        let formatter = ArrayFormatter::try_new(values.as_ref(), &options)?;
        let items: Vec<String> = (0..values.len())
            .map(|j| {
                let text = formatter.value(j).to_string();
                if values.is_null(j) {
                    "null".to_string()
                } else if quoted && lists == Lists::Json {
                    serde_json::Value::String(text).to_string()
                } else {
                    text
                }
            })
            .collect();
        texts.push(Some(match lists {
            Lists::Short if items.len() > SHORT_ITEMS => {
                format!("{}, … (+{} more)", items[..SHORT_ITEMS].join(", "), items.len() - SHORT_ITEMS)
            }
            Lists::Short => items.join(", "),
            _ => format!("[{}]", items.join(",")),
        }));
    }
    Ok(Arc::new(StringArray::from(texts)))
}

fn column_child_type(column: &ArrayRef) -> DataType {
    match column.data_type() {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        other => other.clone(),
    }
}
