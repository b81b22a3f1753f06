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
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, TimestampNanosecondArray};
use arrow_ipc::reader::FileReader;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use dsl_runtime::wire::PanelData;

use super::DataError;

const NS_PER_DAY: i64 = 86_400_000_000_000;

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
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(arrow_err(path))?;
    let mut dates: Vec<i32> = Vec::new();
    for batch in &batches {
        dates.extend(read_dates(batch.column(date_idx), path)?);
    }
    // Column-major straight into the output buffer (one copy per value).
    let mut values = Vec::with_capacity(dates.len() * value_cols.len());
    for &i in &value_cols {
        for batch in &batches {
            read_values(batch.column(i), &mut values, path)?;
        }
    }
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
    let io = |e: std::io::Error| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut fields = vec![Field::new(
        "date",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    )];
    fields.extend(
        panel
            .columns
            .iter()
            .map(|c| Field::new(c, DataType::Float64, true)),
    );
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
        arrays.push(Arc::new(Float64Array::from_iter(
            panel.column(c).iter().map(|v| (!v.is_nan()).then_some(*v)),
        )));
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(arrow_err(path))?;
    let tmp = path.with_extension(format!("feather.{}.tmp", std::process::id()));
    {
        let file = File::create(&tmp).map_err(io)?;
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .map_err(arrow_err(path))?;
        let mut writer =
            FileWriter::try_new_with_options(file, &schema, options).map_err(arrow_err(path))?;
        writer.write(&batch).map_err(arrow_err(path))?;
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
    fn corrupt_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etl#adj_close.feather");
        std::fs::write(&path, b"ARROW1\0\0not really").unwrap();
        let err = read_wide(&path).unwrap_err();
        assert!(matches!(err, DataError::Format { .. }), "{err}");
    }
}
