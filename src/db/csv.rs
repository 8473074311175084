//! The tabdump CSV codec: what xCAT's `tabdump` writes and `tabrestore` reads.
//!
//! Writing is byte-compatible with xCAT: a `#col,col` header in schema order,
//! every non-empty value in double quotes with `"` doubled, NULL and `''` both
//! as an empty field, LF after every record.
//!
//! Reading accepts what `tabrestore` accepts (a header naming a subset of the
//! columns in any order, optionally quoted; short rows, whose missing fields
//! are NULL; unquoted fields; CRLF line ends; no final newline) and refuses
//! what it refuses (a missing or unknown header column, too many fields, a
//! blank or all-empty line, an unterminated quote, a `"` inside an unquoted
//! field), naming the file and the 1-based physical line. Where xCAT silently
//! loses data, the reader keeps it: inside quotes every byte is the value's,
//! so trailing spaces, CRs and blank lines within a multi-line value survive.
//! Outside quotes, trailing whitespace at the end of a line is dropped as
//! xCAT does, which is what makes CRLF files read like LF files.
//!
//! The reader is streaming: it holds one record at a time.

use super::schema::Table;
use crate::{Error, Result};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// One row in schema column order; `None` is SQL NULL.
pub type Row = Vec<Option<String>>;

/// Writes the header line for `columns`.
pub fn write_header(out: &mut dyn Write, columns: &[String]) -> io::Result<()> {
    out.write_all(b"#")?;
    out.write_all(columns.join(",").as_bytes())?;
    out.write_all(b"\n")
}

/// Writes one record; `values` are in the same order as the header's columns.
pub fn write_record(out: &mut dyn Write, values: &[Option<String>]) -> io::Result<()> {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_field(out, value.as_deref())?;
    }
    out.write_all(b"\n")
}

fn write_field(out: &mut dyn Write, value: Option<&str>) -> io::Result<()> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    out.write_all(b"\"")?;
    let mut rest = value.as_bytes();
    while let Some(at) = rest.iter().position(|&b| b == b'"') {
        out.write_all(&rest[..=at])?;
        out.write_all(b"\"")?;
        rest = &rest[at + 1..];
    }
    out.write_all(rest)?;
    out.write_all(b"\"")
}

/// A record read back, with the physical line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub values: Row,
}

/// Streaming tabdump CSV reader for one table.
pub struct Reader<'t, R> {
    input: R,
    file: PathBuf,
    table: &'t Table,
    /// Schema column index of each header field, in header order.
    fields: Vec<usize>,
    /// Physical lines consumed so far.
    line: u64,
    buf: Vec<u8>,
}

/// Perl's `\s`, which xCAT strips from line ends.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

fn only_space(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| is_space(b))
}

impl<'t, R: BufRead> Reader<'t, R> {
    /// Reads and checks the header line of `file` (named in errors only).
    pub fn new(input: R, file: &Path, table: &'t Table) -> Result<Self> {
        let mut reader = Reader {
            input,
            file: file.to_path_buf(),
            table,
            fields: Vec::new(),
            line: 0,
            buf: Vec::new(),
        };
        if !reader.read_line()? {
            return Err(reader.error(1, "empty file: the header line starting with # is missing"));
        }
        reader.fields = reader.parse_header()?;
        Ok(reader)
    }

    /// Schema column indexes named by the header, in header order.
    pub fn header_columns(&self) -> &[usize] {
        &self.fields
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn error(&self, line: u64, message: impl Into<String>) -> Error {
        Error::format(&self.file, line, message)
    }

    /// Replaces `buf` with the next physical line (with its LF); false at EOF.
    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::io(&self.file, e))?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    fn parse_header(&self) -> Result<Vec<usize>> {
        let Some(text) = self.buf.strip_prefix(b"#") else {
            return Err(self.error(1, "the header line must start with # and list the columns"));
        };
        let text: Vec<u8> = text.iter().copied().filter(|&b| b != b'"').collect();
        let end = text
            .iter()
            .rposition(|&b| !is_space(b))
            .map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&text[..end]).into_owned();
        let mut fields = Vec::new();
        for name in text.split(',') {
            let Some(index) = self.table.column_index(name) else {
                return Err(self.error(
                    1,
                    format!(
                        "column '{name}' is not in the schema of table '{}'",
                        self.table.name
                    ),
                ));
            };
            if fields.contains(&index) {
                return Err(self.error(1, format!("column '{name}' is listed twice in the header")));
            }
            fields.push(index);
        }
        Ok(fields)
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if !self.read_line()? {
            return Ok(None);
        }
        let start = self.line;
        if only_space(&self.buf) {
            return Err(self.error(start, "blank line (xCAT refuses it too): remove it"));
        }
        let mut values: Row = vec![None; self.table.columns.len()];
        let mut pos = 0;
        let fields = self.fields.clone();
        for &column in &fields {
            if only_space(&self.buf[pos..]) {
                break; // a short row: the remaining columns are NULL
            }
            match self.buf[pos] {
                b',' => pos += 1,
                b'"' => {
                    let (value, next) = self.quoted_field(pos + 1, start)?;
                    values[column] = Some(self.text(value, column)?);
                    pos = next;
                    if only_space(&self.buf[pos..]) {
                        break;
                    }
                    if self.buf[pos] != b',' {
                        return Err(self.error(
                            self.line,
                            format!(
                                "character {} after the closing quote of column '{}' must be a comma \
                                 (a \" inside a value is written \"\")",
                                pos + 1,
                                self.table.columns[column]
                            ),
                        ));
                    }
                    pos += 1;
                }
                _ => {
                    let end = self.buf[pos..]
                        .iter()
                        .position(|&b| b == b',' || b == b'\n')
                        .map_or(self.buf.len(), |i| pos + i);
                    let mut raw = &self.buf[pos..end];
                    if raw.contains(&b'"') {
                        return Err(self.error(
                            self.line,
                            format!(
                                "column '{}' has a \" but does not start with one (character {})",
                                self.table.columns[column],
                                pos + 1
                            ),
                        ));
                    }
                    let at_comma = self.buf.get(end) == Some(&b',');
                    if !at_comma {
                        let keep = raw.iter().rposition(|&b| !is_space(b)).map_or(0, |i| i + 1);
                        raw = &raw[..keep];
                    }
                    let value = raw.to_vec();
                    values[column] = Some(self.text(value, column)?);
                    pos = if at_comma { end + 1 } else { end };
                }
            }
        }
        if !only_space(&self.buf[pos..]) {
            let rest = String::from_utf8_lossy(&self.buf[pos..]);
            return Err(self.error(
                self.line,
                format!(
                    "too many fields: the header has {} columns, extra text from character {}: {}",
                    self.fields.len(),
                    pos + 1,
                    rest.trim_end()
                ),
            ));
        }
        if values
            .iter()
            .all(|v| v.as_deref().map_or(true, str::is_empty))
        {
            return Err(self.error(start, "every field is empty (xCAT refuses such a row)"));
        }
        Ok(Some(Record {
            line: start,
            values,
        }))
    }

    /// Scans a quoted value starting after its opening quote at `pos`, reading
    /// further physical lines while the quote stays open. Returns the raw
    /// value and the position after the closing quote (in the current line).
    fn quoted_field(&mut self, mut pos: usize, start: u64) -> Result<(Vec<u8>, usize)> {
        let mut value = Vec::new();
        loop {
            if pos >= self.buf.len() {
                if !self.read_line()? {
                    return Err(self.error(
                        start,
                        "unterminated quote: the value opened here never ends (missing \")",
                    ));
                }
                pos = 0;
                continue;
            }
            let rest = &self.buf[pos..];
            match rest.iter().position(|&b| b == b'"') {
                None => {
                    value.extend_from_slice(rest);
                    pos = self.buf.len();
                }
                Some(at) => {
                    value.extend_from_slice(&rest[..at]);
                    pos += at + 1;
                    if self.buf.get(pos) == Some(&b'"') {
                        value.push(b'"');
                        pos += 1;
                    } else {
                        return Ok((value, pos));
                    }
                }
            }
        }
    }

    fn text(&self, value: Vec<u8>, column: usize) -> Result<String> {
        String::from_utf8(value).map_err(|_| {
            self.error(
                self.line,
                format!(
                    "value of column '{}' is not valid UTF-8",
                    self.table.columns[column]
                ),
            )
        })
    }
}

impl<R: BufRead> Iterator for Reader<'_, R> {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema;
    use proptest::prelude::*;

    fn site() -> &'static Table {
        schema::table("site").unwrap()
    }

    fn read_all(text: &str) -> Result<Vec<Record>> {
        Reader::new(text.as_bytes(), Path::new("site.csv"), site())?.collect()
    }

    fn dump(rows: &[Row]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, &site().columns).unwrap();
        for row in rows {
            write_record(&mut out, row).unwrap();
        }
        out
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn writer_quotes_doubles_and_blanks_null_and_empty() {
        let out = dump(&[
            vec![s("k1"), s("say \"hi\""), None, s("")],
            vec![s("k2"), s("a,b\nc"), s(" c "), None],
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#key,value,comments,disable\n\"k1\",\"say \"\"hi\"\"\",,\n\"k2\",\"a,b\nc\",\" c \",\n"
        );
    }

    #[test]
    fn reader_accepts_subset_header_short_rows_unquoted_and_crlf() {
        let rows = read_all("#\"value\",key\r\n\"v\",\"k\"\r\nplain ,k2  \r\n\"\",k3").unwrap();
        assert_eq!(rows[0].values, [s("k"), s("v"), None, None]);
        assert_eq!(rows[1].values, [s("k2"), s("plain "), None, None]);
        assert_eq!(rows[2].values, [s("k3"), s(""), None, None]);
        assert_eq!(rows[2].line, 4);
        let short = read_all("#key,value,comments,disable\n\"a\"\n").unwrap();
        assert_eq!(short[0].values, [s("a"), None, None, None]);
    }

    #[test]
    fn reader_keeps_what_xcat_strips_inside_quotes() {
        let rows = read_all("#key,value\n\"k\",\"a  \r\n\n b\t\"\n\"k2\",\"x\"\n").unwrap();
        assert_eq!(rows[0].values[1], s("a  \r\n\n b\t"));
        assert_eq!(rows[1].line, 5);
    }

    fn err(text: &str) -> String {
        read_all(text).unwrap_err().to_string()
    }

    #[test]
    fn reader_refuses_malformed_input_naming_file_and_line() {
        assert_eq!(
            err(""),
            "site.csv:1: empty file: the header line starting with # is missing"
        );
        assert!(err("key,value\n").starts_with("site.csv:1: the header line must start with #"));
        assert_eq!(
            err("#key,bogus\n"),
            "site.csv:1: column 'bogus' is not in the schema of table 'site'"
        );
        assert!(err("#key,key\n").contains("listed twice"));
        assert!(
            err("#key,value\n\"a\",\"1\"\n\n\"b\",\"2\"\n").starts_with("site.csv:3: blank line")
        );
        assert!(err("#key,value\n\"a\",\"1\"\n\n").starts_with("site.csv:3: blank line"));
        assert!(err("#key,value,comments,disable\n\"a\",\"1\",,,\"x\"\n")
            .starts_with("site.csv:2: too many fields"));
        assert!(err("#key,value\n\"a\",\"1\"\n\"b\",\"2,,\n")
            .starts_with("site.csv:3: unterminated quote"));
        assert!(
            err("#key,value\n\"a\",ab\"c\"\n").starts_with("site.csv:2: column 'value' has a \"")
        );
        assert!(err("#key,value\n\"a\"x,\"1\"\n").contains("after the closing quote"));
        assert!(err("#key,value\n,\n").starts_with("site.csv:2: every field is empty"));
        assert!(
            err("#key,value\n\"k\",\"a\nb\",\"c\"\n").starts_with("site.csv:3: too many fields")
        );
    }

    fn any_value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(String::new())),
            4 => "[ ,\"\n\r\ta-z#é✓\\\\]{0,12}".prop_map(Some),
            2 => any::<String>().prop_map(Some),
        ]
    }

    proptest! {
        #[test]
        fn values_round_trip_with_empty_string_becoming_null(
            rows in prop::collection::vec(prop::collection::vec(any_value(), 4), 0..6)
        ) {
            let expected: Vec<Row> = rows
                .iter()
                .map(|r| r.iter().map(|v| v.clone().filter(|v| !v.is_empty())).collect())
                .collect();
            let result = read_all(&String::from_utf8(dump(&rows)).unwrap());
            if expected.iter().any(|r| r.iter().all(Option::is_none)) {
                // xCAT refuses an all-empty row; so do we, on its first line.
                prop_assert!(result.unwrap_err().to_string().contains("every field is empty"));
            } else {
                let read: Vec<Row> = result.unwrap().into_iter().map(|r| r.values).collect();
                prop_assert_eq!(read, expected);
            }
        }
    }
}
