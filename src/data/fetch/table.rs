//! The tables of a TWSE/TPEx JSON answer, wherever the answer puts them: a `tables` array, a
//! top-level `fields`/`data` pair, or legacy numbered `fieldsN`/`dataN` keys. Tables are located
//! by their fields, never by position (`docs/data.md` §6.2).

use serde_json::Value;

use super::ParseError;

/// One table: its title, fields, rows and unit note.
pub struct Table<'a> {
    pub title: &'a str,
    pub fields: Vec<&'a str>,
    pub data: &'a [Value],
    pub hints: Option<&'a str>,
    /// The table's own date, when it has one (TPEx).
    pub date: Option<&'a str>,
}

/// Every table of an answer.
pub fn tables(v: &Value) -> Vec<Table<'_>> {
    fn read(t: &Value) -> Option<Table<'_>> {
        read_table(
            t.get("title").or_else(|| t.get("subtitle")),
            t.get("fields"),
            t.get("data").or_else(|| t.get("aaData")),
            t.get("hints"),
            t.get("date"),
        )
    }
    let mut out = Vec::new();
    if let Some(ts) = v.get("tables").and_then(Value::as_array) {
        out.extend(ts.iter().filter_map(read));
    }
    if let Some(t) = v.get("fields").and_then(|_| read(v)) {
        out.push(t);
    }
    if let Some(obj) = v.as_object() {
        // Legacy answers: `fields9`/`data9` (or `fields8`/`data8`, ...) next to each other.
        for (k, fields) in obj {
            if let Some(n) = k.strip_prefix("fields").filter(|n| !n.is_empty()) {
                if let Some(t) = read_table(
                    obj.get(&format!("subtitle{n}")),
                    Some(fields),
                    obj.get(&format!("data{n}")),
                    obj.get(&format!("hints{n}")),
                    None,
                ) {
                    out.push(t);
                }
            }
        }
    }
    out
}

fn read_table<'a>(
    title: Option<&'a Value>,
    fields: Option<&'a Value>,
    data: Option<&'a Value>,
    hints: Option<&'a Value>,
    date: Option<&'a Value>,
) -> Option<Table<'a>> {
    let fields: Vec<&str> = fields?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    Some(Table {
        title: title.and_then(Value::as_str).unwrap_or(""),
        fields,
        data: data.and_then(Value::as_array).map_or(&[], Vec::as_slice),
        hints: hints.and_then(Value::as_str),
        date: date.and_then(Value::as_str),
    })
}

/// Field text without spaces and line breaks (some feeds wrap long labels).
pub fn norm(field: &str) -> String {
    field.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The position of the first field equal to one of `names` (after [`norm`]).
pub fn find(fields: &[&str], names: &[&str]) -> Option<usize> {
    fields
        .iter()
        .position(|f| names.iter().any(|n| norm(f) == norm(n)))
}

/// Like [`find`], an error naming the first spelling when none is there.
pub fn require(fields: &[&str], names: &[&str]) -> Result<usize, ParseError> {
    find(fields, names).ok_or_else(|| {
        ParseError::Format(format!(
            "the header changed: no `{}` column (fields: {fields:?})",
            names[0]
        ))
    })
}

/// The first table that has every field group of `wanted` (each group: accepted spellings).
pub fn with_fields<'a, 'b>(tables: &'b [Table<'a>], wanted: &[&[&str]]) -> Option<&'b Table<'a>> {
    tables
        .iter()
        .find(|t| wanted.iter().all(|names| find(&t.fields, names).is_some()))
}

/// A value cell: `None` for "not computed" (`-`, `--`, `---`, `N/A`, `null`, empty).
pub fn optional_number(cell: &str) -> Result<Option<f64>, super::parse::BadCell> {
    let t = cell.trim();
    if t.is_empty()
        || t.chars().all(|c| c == '-')
        || t.eq_ignore_ascii_case("n/a")
        || t.eq_ignore_ascii_case("null")
    {
        return Ok(None);
    }
    super::parse::parse_number(t).map(Some)
}
