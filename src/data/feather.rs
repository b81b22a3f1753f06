//! Wide Arrow IPC files in finlab's cache layout: one file per dataset key (`:` → `#`, suffix
//! `.feather`), a `date` timestamp column (any position) and one float64 column per stock.
//! Reads what pandas/pyarrow/finlab write (timestamp ns/us/ms/s or date32/date64; float or
//! integer values; LZ4-frame compressed or plain); writes LZ4-compressed files that pandas,
//! pyarrow and polars read.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, TimestampNanosecondArray,
};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use dsl_runtime::wire::PanelData;

use super::DataError;

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Record batches per written file (loads decode them in parallel).
const BATCHES: usize = 4;

/// File name of a dataset key in finlab's layout.
pub fn file_name(key: &str) -> String {
    format!("{}.feather", key.replace(':', "#"))
}

/// Dataset key of a cache file name, if it is one.
pub fn key_of(file_name: &str) -> Option<String> {
    file_name
        .strip_suffix(".feather")
        .map(|stem| stem.replace('#', ":"))
}

fn arrow_err(path: &Path) -> impl Fn(arrow_schema::ArrowError) -> DataError + '_ {
    move |e| DataError::Format {
        path: path.to_path_buf(),
        message: format!("corrupt or truncated Arrow IPC file ({e})"),
    }
}

fn open_reader(
    path: &Path,
    projection: Option<Vec<usize>>,
) -> Result<FileReader<BufReader<File>>, DataError> {
    let file = File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    FileReader::try_new(BufReader::new(file), projection).map_err(arrow_err(path))
}

fn date_index(schema: &Schema, path: &Path) -> Result<usize, DataError> {
    schema
        .fields()
        .iter()
        .position(|f| f.name() == "date" || f.name() == "__index_level_0__")
        .ok_or_else(|| DataError::Format {
            path: path.to_path_buf(),
            message: "no `date` column (a wide finlab panel has one)".into(),
        })
}

/// Shape and metadata of a wide panel without reading its values: the `date` column (sorted),
/// the number of value columns and the schema metadata.
pub struct Shape {
    pub dates: Vec<i32>,
    pub columns: usize,
    pub metadata: HashMap<String, String>,
}

/// Reads only the `date` column and the schema of a wide panel.
pub fn read_shape(path: &Path) -> Result<Shape, DataError> {
    let probe = open_reader(path, None)?;
    let schema = probe.schema();
    let idx = date_index(&schema, path)?;
    let reader = open_reader(path, Some(vec![idx]))?;
    let mut dates = Vec::new();
    for batch in reader {
        let batch = batch.map_err(arrow_err(path))?;
        dates.extend(read_dates(batch.column(0), path)?);
    }
    dates.sort_unstable();
    Ok(Shape {
        dates,
        columns: schema.fields().len() - 1,
        metadata: schema
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// The sorted dates of a wide panel.
pub fn read_dates_only(path: &Path) -> Result<Vec<i32>, DataError> {
    read_shape(path).map(|s| s.dates)
}

/// Reads a wide panel. Dates become days since 1970-01-01; missing values NaN.
pub fn read_wide(path: &Path) -> Result<PanelData, DataError> {
    let reader = open_reader(path, None)?;
    let schema = reader.schema();
    let date_idx = date_index(&schema, path)?;
    let value_cols: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| i != date_idx)
        .collect();
    let columns: Vec<String> = value_cols
        .iter()
        .map(|&i| {
            // finlab: "2330 台積電"-style labels are reduced to the code.
            let name = schema.field(i).name();
            name.split(' ').next().unwrap_or(name).to_string()
        })
        .collect();
    let batches = read_batches(path, reader.num_batches())?;
    drop(reader);
    let mut dates: Vec<i32> = Vec::new();
    for batch in &batches {
        dates.extend(read_dates(batch.column(date_idx), path)?);
    }
    // Column-major output, filled by a few threads over disjoint column ranges.
    let n = dates.len();
    let mut values = vec![0.0; n * value_cols.len()];
    let per = value_cols.len().div_ceil(workers()).max(1);
    let results: Vec<Result<(), DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = values
            .chunks_mut((per * n).max(1))
            .zip(value_cols.chunks(per))
            .map(|(dst, cols)| {
                let batches = &batches;
                scope.spawn(move || {
                    let mut dst = dst;
                    for &i in cols {
                        let (col, rest) = dst.split_at_mut(n);
                        let mut off = 0;
                        for batch in batches {
                            let len = batch.num_rows();
                            fill_values(batch.column(i), &mut col[off..off + len], path)?;
                            off += len;
                        }
                        dst = rest;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(panicked(path))))
            .collect()
    });
    results
        .into_iter()
        .collect::<Result<Vec<()>, DataError>>()?;
    drop(batches);
    let sorted_dates = match sort_order(&dates) {
        None => dates,
        Some(o) => {
            let n = dates.len();
            let mut sorted_values = Vec::with_capacity(values.len());
            for c in values.chunks(n.max(1)) {
                sorted_values.extend(o.iter().map(|&r| c[r]));
            }
            values = sorted_values;
            o.iter().map(|&r| dates[r]).collect()
        }
    };
    if sorted_dates.windows(2).any(|w| w[0] == w[1]) {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            message: "duplicate dates in the `date` column".into(),
        });
    }
    Ok(PanelData {
        name: path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(key_of)
            .unwrap_or_default(),
        dates: sorted_dates,
        columns,
        values,
    })
}

fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 4)
}

fn panicked(path: &Path) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message: "a reader thread panicked".into(),
    }
}

/// Decodes every record batch, batches spread over a few threads (each with its own reader
/// that seeks to its batches): decompression is most of a load's cost.
fn read_batches(path: &Path, count: usize) -> Result<Vec<RecordBatch>, DataError> {
    let w = workers().min(count).max(1);
    let parts: Vec<Result<Vec<(usize, RecordBatch)>, DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..w)
            .map(|k| {
                scope.spawn(move || {
                    let mut reader = open_reader(path, None)?;
                    let mut out = Vec::new();
                    for i in (k..count).step_by(w) {
                        reader.set_index(i).map_err(arrow_err(path))?;
                        match reader.next() {
                            Some(b) => out.push((i, b.map_err(arrow_err(path))?)),
                            None => break,
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(panicked(path))))
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for p in parts {
        all.extend(p?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, b)| b).collect())
}

/// `None` when already sorted, else the row order that sorts by date.
fn sort_order(dates: &[i32]) -> Option<Vec<usize>> {
    if dates.windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let mut order: Vec<usize> = (0..dates.len()).collect();
    order.sort_by_key(|&r| dates[r]);
    Some(order)
}

fn read_dates(col: &ArrayRef, path: &Path) -> Result<Vec<i32>, DataError> {
    let per_day = |unit: &TimeUnit| match unit {
        TimeUnit::Second => 86_400,
        TimeUnit::Millisecond => 86_400_000,
        TimeUnit::Microsecond => 86_400_000_000,
        TimeUnit::Nanosecond => NS_PER_DAY,
    };
    let bad = |what: &str| DataError::Format {
        path: path.to_path_buf(),
        message: format!("`date` column: {what}"),
    };
    if col.null_count() > 0 {
        return Err(bad("has missing dates"));
    }
    let out: Vec<i64> = match col.data_type() {
        DataType::Timestamp(unit, _) => {
            let d = per_day(unit);
            let raw: Vec<i64> = match unit {
                TimeUnit::Second => col.as_primitive::<TimestampSecondType>().values().to_vec(),
                TimeUnit::Millisecond => col
                    .as_primitive::<TimestampMillisecondType>()
                    .values()
                    .to_vec(),
                TimeUnit::Microsecond => col
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec(),
                TimeUnit::Nanosecond => col
                    .as_primitive::<TimestampNanosecondType>()
                    .values()
                    .to_vec(),
            };
            raw.into_iter().map(|v| v.div_euclid(d)).collect()
        }
        DataType::Date32 => col
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .map(|&v| i64::from(v))
            .collect(),
        DataType::Date64 => col
            .as_primitive::<Date64Type>()
            .values()
            .iter()
            .map(|&v| v.div_euclid(86_400_000))
            .collect(),
        other => return Err(bad(&format!("type {other} is not a date or timestamp"))),
    };
    out.into_iter()
        .map(|v| i32::try_from(v).map_err(|_| bad("date out of range")))
        .collect()
}

/// Converts one column into `dst` (same length): NaN for nulls.
fn fill_values(col: &ArrayRef, dst: &mut [f64], path: &Path) -> Result<(), DataError> {
    if let DataType::Float64 = col.data_type() {
        let a = col.as_primitive::<Float64Type>();
        dst.copy_from_slice(a.values());
        if let Some(nulls) = a.nulls() {
            for (d, valid) in dst.iter_mut().zip(nulls.iter()) {
                if !valid {
                    *d = f64::NAN;
                }
            }
        }
        return Ok(());
    }
    let mut tmp = Vec::with_capacity(dst.len());
    read_values(col, &mut tmp, path)?;
    dst.copy_from_slice(&tmp);
    Ok(())
}

fn read_values(col: &ArrayRef, out: &mut Vec<f64>, path: &Path) -> Result<(), DataError> {
    fn push<T: ArrowPrimitiveType>(
        col: &ArrayRef,
        out: &mut Vec<f64>,
        f: impl Fn(T::Native) -> f64,
    ) {
        let a = col.as_primitive::<T>();
        out.extend((0..a.len()).map(|i| {
            if a.is_null(i) {
                f64::NAN
            } else {
                f(a.value(i))
            }
        }));
    }
    match col.data_type() {
        DataType::Float64 => {
            // Fast path: copy the buffer, then blank the nulls.
            let a = col.as_primitive::<Float64Type>();
            let start = out.len();
            out.extend_from_slice(a.values());
            if let Some(nulls) = a.nulls() {
                for i in nulls.iter().enumerate().filter(|(_, v)| !v).map(|(i, _)| i) {
                    out[start + i] = f64::NAN;
                }
            }
        }
        DataType::Float32 => push::<Float32Type>(col, out, f64::from),
        DataType::Int64 => push::<Int64Type>(col, out, |v| v as f64),
        DataType::Int32 => push::<Int32Type>(col, out, f64::from),
        DataType::Int16 => push::<Int16Type>(col, out, f64::from),
        DataType::Int8 => push::<Int8Type>(col, out, f64::from),
        DataType::UInt32 => push::<UInt32Type>(col, out, f64::from),
        DataType::UInt64 => push::<UInt64Type>(col, out, |v| v as f64),
        DataType::Boolean => {
            let a = col.as_boolean();
            out.extend((0..a.len()).map(|i| {
                if a.is_null(i) {
                    f64::NAN
                } else if a.value(i) {
                    1.0
                } else {
                    0.0
                }
            }));
        }
        DataType::Null => out.extend(std::iter::repeat_n(f64::NAN, col.len())),
        other => {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                message: format!("column type {other} is not numeric"),
            })
        }
    }
    Ok(())
}

/// Writes a wide panel as an LZ4-compressed Arrow IPC file (atomically: temp file + rename).
pub fn write_wide(
    path: &Path,
    panel: &PanelData,
    metadata: &[(&str, String)],
) -> Result<(), DataError> {
    write_wide_as(path, panel, metadata, ValueType::Float64)
}

/// Arrow type of the value columns of a written panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// float64; NaN for missing values.
    Float64,
    /// bool: non-zero values are `true`; zero and NaN are `false` (pandas reads the columns as
    /// `bool`, as finlab's own bool positions are; [`read_wide`] reads them back as 0/1).
    Bool,
}

/// [`write_wide`] with the value columns as `values`.
pub fn write_wide_as(
    path: &Path,
    panel: &PanelData,
    metadata: &[(&str, String)],
    values: ValueType,
) -> Result<(), DataError> {
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut fields = vec![Field::new(
        "date",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    )];
    fields.extend(panel.columns.iter().map(|c| match values {
        ValueType::Float64 => Field::new(c, DataType::Float64, true),
        ValueType::Bool => Field::new(c, DataType::Boolean, false),
    }));
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(TimestampNanosecondArray::from(
        panel
            .dates
            .iter()
            .map(|&d| i64::from(d) * NS_PER_DAY)
            .collect::<Vec<_>>(),
    ))];
    for c in 0..panel.columns.len() {
        // Missing values are stored as NaN without a validity bitmap: pandas and finlab read
        // them as NaN, the files are smaller and loading is a plain buffer copy.
        let column = panel.column(c);
        arrays.push(match values {
            ValueType::Float64 => Arc::new(Float64Array::from(column.to_vec())),
            ValueType::Bool => Arc::new(BooleanArray::from(
                column
                    .iter()
                    .map(|v| *v != 0.0 && !v.is_nan())
                    .collect::<Vec<bool>>(),
            )),
        });
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(arrow_err(path))?;
    // A few record batches of rows, so readers can decompress them in parallel.
    let rows = batch.num_rows();
    let per_batch = rows.div_ceil(BATCHES).max(1);
    let tmp = path.with_extension(format!("feather.{}.tmp", std::process::id()));
    {
        let file = File::create(&tmp).map_err(io)?;
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .map_err(arrow_err(path))?;
        let mut writer =
            FileWriter::try_new_with_options(file, &schema, options).map_err(arrow_err(path))?;
        let mut start = 0;
        while start < rows || (rows == 0 && start == 0) {
            let len = per_batch.min(rows - start);
            writer
                .write(&batch.slice(start, len))
                .map_err(arrow_err(path))?;
            start += per_batch;
        }
        writer.finish().map_err(arrow_err(path))?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = PanelData {
            name: "price:收盤價".into(),
            dates: vec![19000, 19001, 19004],
            columns: vec!["1101".into(), "2330".into()],
            values: vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0],
        };
        let path = dir.path().join(file_name(&p.name));
        assert!(path.ends_with("price#收盤價.feather"));
        write_wide(&path, &p, &[("dsl_engine.synthetic", "true".into())]).unwrap();
        let back = read_wide(&path).unwrap();
        assert_eq!(back.name, p.name);
        assert_eq!(back.dates, p.dates);
        assert_eq!(back.columns, p.columns);
        assert!(back.values[1].is_nan());
        assert_eq!(back.values[5], 6.0);
    }

    #[test]
    fn bool_columns_round_trip_as_zero_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = PanelData {
            name: "position".into(),
            dates: vec![19000, 19001],
            columns: vec!["2330".into()],
            values: vec![1.0, f64::NAN],
        };
        let path = dir.path().join("pos.feather");
        write_wide_as(&path, &p, &[], ValueType::Bool).unwrap();
        let back = read_wide(&path).unwrap();
        assert_eq!(back.values, vec![1.0, 0.0]);
    }

    #[test]
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etl#adj_close.feather");
        std::fs::write(&path, b"ARROW1\0\0not really").unwrap();
        let err = read_wide(&path).unwrap_err();
        assert!(matches!(err, DataError::Format { .. }), "{err}");
    }
}
