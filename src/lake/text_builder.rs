//! A text column under construction that costs one comparison per row while
//! every row holds the same value (or none). Most of a source's columns are
//! like that (`EventVendor`, `EventType`, the schema version, the columns
//! the source never fills), and copying the same bytes into every row of
//! them was a large part of building a batch.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, StringBuilder};
use arrow::buffer::{Buffer, OffsetBuffer};

/// Builds one Utf8 column; see the module note.
pub struct TextBuilder {
    /// Rows appended.
    len: usize,
    state: State,
    /// Rows and bytes to make room for once the rows differ.
    capacity: (usize, usize),
}

enum State {
    /// Every row so far holds `value` (`None`: null), or there is no row yet.
    Same(Option<Box<str>>),
    /// The rows differ; the builder holds them all.
    Mixed(StringBuilder),
}

impl TextBuilder {
    /// A builder with room for `rows` rows of `bytes` bytes in all, made
    /// when the rows first differ.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Self { len: 0, state: State::Same(None), capacity: (rows, bytes) }
    }

    /// Appends one row's value.
    pub fn append_option(&mut self, value: Option<&str>) {
        match &mut self.state {
            State::Mixed(builder) => builder.append_option(value),
            State::Same(same) if self.len == 0 => *same = value.map(Box::from),
            State::Same(same) if same.as_deref() == value => {}
            State::Same(same) => {
                let (rows, bytes) = self.capacity;
                let mut builder = StringBuilder::with_capacity(rows.max(self.len + 1), bytes);
                for _ in 0..self.len {
                    builder.append_option(same.as_deref());
                }
                builder.append_option(value);
                self.state = State::Mixed(builder);
            }
        }
        self.len += 1;
    }

    /// Bytes of text held (none while the rows hold one value).
    pub fn bytes(&self) -> usize {
        match &self.state {
            State::Mixed(builder) => builder.values_slice().len(),
            State::Same(_) => 0,
        }
    }

    /// The column of the rows appended; the builder starts again, empty.
    pub fn finish(&mut self) -> ArrayRef {
        let rows = std::mem::take(&mut self.len);
        match std::mem::replace(&mut self.state, State::Same(None)) {
            State::Mixed(mut builder) => Arc::new(builder.finish()),
            State::Same(None) => Arc::new(StringArray::new_null(rows)),
            State::Same(Some(value)) => {
                let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(value.len(), rows));
                Arc::new(StringArray::new(offsets, Buffer::from(value.repeat(rows).into_bytes()), None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::*;

    fn built(values: &[Option<&str>]) -> ArrayRef {
        let mut builder = TextBuilder::with_capacity(1, 1);
        for value in values {
            builder.append_option(*value);
        }
        builder.finish()
    }

    #[test]
    fn columns_are_the_rows_appended() {
        for values in [
            vec![],
            vec![None],
            vec![None, None, None],
            vec![Some("Zeek"); 5],
            vec![Some(""), Some("")],
            vec![Some("a"), Some("a"), Some("b"), Some("a")],
            vec![Some("a"), None, Some("a")],
            vec![None, None, Some("x")],
            vec![Some("x"), Some("x"), None],
        ] {
            let column = built(&values);
            assert_eq!(column.as_ref(), &StringArray::from(values.clone()) as &dyn Array, "{values:?}");
        }
    }

    #[test]
    fn a_finished_builder_starts_again() {
        let mut builder = TextBuilder::with_capacity(4, 16);
        builder.append_option(Some("a"));
        builder.append_option(Some("b"));
        assert_eq!(builder.bytes(), 2);
        builder.finish();
        builder.append_option(Some("c"));
        builder.append_option(Some("c"));
        assert_eq!(builder.bytes(), 0);
        assert_eq!(builder.finish().as_ref(), &StringArray::from(vec!["c", "c"]) as &dyn Array);
    }
}
