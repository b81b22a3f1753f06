//! Data as a user meets it: `data synth/list/show/import-finlab` through the binary, files in
//! finlab's exact on-disk format (written here with arrow directly, as pyarrow would), and the
//! typed errors for truncated files, missing keys and mismatched calendars.

// Test and benchmark code: an unwrap fails the run, and printing is the report.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_array::{TimestampMicrosecondArray, TimestampNanosecondArray};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use assert_cmd::Command;
use dsl_engine::calendar::days_from_civil;
use dsl_engine::data::{self, feather, DataDir, DataError};

fn engine(data_dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("dsl-engine").unwrap();
    cmd.env("DSL_ENGINE_DATA_DIR", data_dir);
    cmd
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn synth_list_show_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mini");
    let o = engine(&out)
        .args(["data", "synth", "--stocks", "40", "--start", "2024-01-01"])
        .args(["--end", "2024-12-31", "--report", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(
        text.contains("wrote 136 datasets (40 stocks × 242 sessions"),
        "{text}"
    );
    assert!(
        text.contains("data: SYNTHETIC (tw-synth v1, seed 42)"),
        "{text}"
    );
    assert!(text.contains("stock-days touching a limit"), "{text}");
    assert!(text.contains("premium: momentum"), "{text}");

    let o = engine(&out).args(["data", "list"]).output().unwrap();
    let text = stdout(&o);
    assert!(o.status.success());
    assert!(text.contains("136 datasets"), "{text}");
    assert!(
        text.contains("benchmark_return:發行量加權股價報酬指數"),
        "{text}"
    );
    assert!(text.contains("2024-01-02 → 2024-12-31"), "{text}");

    let o = engine(&out)
        .args(["data", "show", "monthly_revenue:當月營收"])
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("10th of month M+1"), "{text}");
    assert!(text.contains("thousand NT$"), "{text}");

    let o = engine(&out)
        .args(["data", "show", "price:收盤"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did you mean `price:收盤價`"), "{err}");
}

#[test]
fn panels_have_the_finlab_layout_and_publication_dates() {
    let dir = common::data_dir();
    let close = dir.load("price:收盤價").unwrap();
    let adj = dir.load("etl:adj_close").unwrap();
    assert_eq!(close.columns.len(), 300);
    assert!(close.dates.len() >= 1200, "{} sessions", close.dates.len());
    assert_eq!(close.dates, adj.dates);
    // Revenue rows are the first sessions on or after the 10th of each month.
    let rev = dir.load("monthly_revenue:當月營收").unwrap();
    for &d in &rev.dates {
        let (_, _, day) = dsl_engine::calendar::civil_from_days(d);
        assert!(
            (10..=20).contains(&day),
            "{}",
            dsl_engine::calendar::format(d)
        );
        dir.check_calendar(&rev).unwrap();
    }
    let bench = dir.load("benchmark_return:發行量加權股價報酬指數").unwrap();
    assert_eq!(bench.columns, ["發行量加權股價報酬指數"]);
    assert_eq!(bench.values[0], 10_000.0);
    assert!(bench.values.iter().all(|v| v.is_finite() && *v > 0.0));
    // Adjusted equals raw on the last session; adjusted returns stay inside the ±10 % band
    // (plus rounding) across dividends, stock dividends and capital reductions.
    let last = close.dates.len() - 1;
    for c in 0..close.columns.len() {
        let (raw, a) = (close.column(c), adj.column(c));
        if !raw[last].is_nan() {
            assert_eq!(raw[last], a[last]);
        }
        let traded: Vec<usize> = (0..=last).filter(|&t| !a[t].is_nan()).collect();
        for w in traded.windows(2).skip(5) {
            let r = a[w[1]] / a[w[0]] - 1.0;
            assert!(r.abs() < 0.105, "{} {}: {r}", close.columns[c], w[1]);
        }
    }
    let shape = feather::read_shape(&dir.path.join(feather::file_name("etl:adj_close"))).unwrap();
    assert_eq!(
        shape
            .metadata
            .get("dsl_engine.synthetic")
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn truncated_files_and_missing_keys_are_typed_errors() {
    let src = common::data_dir();
    let tmp = tempfile::tempdir().unwrap();
    let name = feather::file_name("etl:adj_close");
    let bytes = std::fs::read(src.path.join(&name)).unwrap();
    std::fs::write(tmp.path().join(&name), &bytes[..bytes.len() / 2]).unwrap();
    let dir = DataDir::open(tmp.path()).unwrap();
    match dir.load("etl:adj_close") {
        Err(e @ DataError::Format { .. }) => assert!(e.to_string().contains("truncated"), "{e}"),
        other => panic!("expected a Format error, got {other:?}"),
    }
    match dir.load("price:收盤價") {
        Err(e @ DataError::NotFound { .. }) => assert!(e.to_string().contains("etl:adj_close")),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn threads_asking_for_one_panel_share_one_read_and_failures_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let good = small_market(tmp.path());
    let name = feather::file_name("etl:adj_close");
    let bytes = std::fs::read(good.path.join(&name)).unwrap();
    // A damaged file: every thread gets the error, and nothing is kept for later calls.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join(&name), &bytes[..bytes.len() / 2]).unwrap();
    let dir = DataDir::open(broken.path()).unwrap();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(|| dir.shared("etl:adj_close")))
            .collect();
        for c in calls {
            assert!(matches!(c.join().unwrap(), Err(DataError::Format { .. })));
        }
    });
    // Mended, the same directory (and its clones) reads it, once for all threads.
    std::fs::write(broken.path().join(&name), &bytes).unwrap();
    let clone = dir.clone();
    let panels: Vec<Arc<_>> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..6)
            .map(|i| {
                let d = if i % 2 == 0 { &dir } else { &clone };
                s.spawn(move || d.shared("etl:adj_close").unwrap())
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(panels.iter().all(|p| Arc::ptr_eq(p, &panels[0])));
    let (got, want) = (&panels[0], good.load("etl:adj_close").unwrap());
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!((&got.dates, &got.columns), (&want.dates, &want.columns));
    assert_eq!(bits(&got.values), bits(&want.values));
}

/// Writes a wide panel the way pyarrow/finlab do: `date` as the last column, LZ4 or none.
fn write_finlab(
    path: &Path,
    dates: &[i32],
    cols: &[(&str, Vec<Option<f64>>)],
    us: bool,
    lz4: bool,
) {
    let unit = if us {
        TimeUnit::Microsecond
    } else {
        TimeUnit::Nanosecond
    };
    let mut fields: Vec<Field> = cols
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Float64, true))
        .collect();
    fields.push(Field::new("date", DataType::Timestamp(unit, None), true));
    let meta = HashMap::from([(
        "pandas".to_string(),
        r#"{"index_columns": ["date"], "columns": []}"#.to_string(),
    )]);
    let schema = Arc::new(Schema::new(fields).with_metadata(meta));
    let mut arrays: Vec<ArrayRef> = cols
        .iter()
        .map(|(_, v)| Arc::new(Float64Array::from(v.clone())) as ArrayRef)
        .collect();
    let per_day: i64 = if us {
        86_400_000_000
    } else {
        86_400_000_000_000
    };
    let stamps: Vec<i64> = dates.iter().map(|&d| i64::from(d) * per_day).collect();
    arrays.push(if us {
        Arc::new(TimestampMicrosecondArray::from(stamps))
    } else {
        Arc::new(TimestampNanosecondArray::from(stamps))
    });
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    let mut options = IpcWriteOptions::default();
    if lz4 {
        options = options
            .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
            .unwrap();
    }
    let file = std::fs::File::create(path).unwrap();
    let mut w = FileWriter::try_new_with_options(file, &schema, options).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

#[test]
fn a_finlab_cache_imports_and_mismatched_calendars_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("finlab_db");
    std::fs::create_dir_all(&cache).unwrap();
    let days: Vec<i32> = [2, 3, 4, 5, 8]
        .iter()
        .map(|&d| days_from_civil(2024, 1, d))
        .collect();
    let close = vec![Some(580.0), Some(593.0), None, Some(590.0), Some(600.0)];
    write_finlab(
        &cache.join("price#收盤價.feather"),
        &days,
        &[
            ("2330 台積電", close.clone()),
            ("1101 台泥", vec![Some(33.0); 5]),
        ],
        false,
        true,
    );
    write_finlab(
        &cache.join("etl#adj_close.feather"),
        &days,
        &[("2330", close), ("1101", vec![Some(32.5); 5])],
        true,
        false,
    );
    // A long table (no date column) is skipped, not an error.
    let schema = Arc::new(Schema::new(vec![
        Field::new("stock_id", DataType::Utf8, false),
        Field::new("category", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["2330"])),
            Arc::new(Int64Array::from(vec![24])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(cache.join("security_categories.feather")).unwrap();
    let mut w = FileWriter::try_new(f, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();

    let out = tmp.path().join("imported");
    let o = engine(&out)
        .args(["data", "import-finlab"])
        .arg(&cache)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(text.contains("imported 2 datasets"), "{text}");
    assert!(text.contains("long table"), "{text}");
    let dir = DataDir::open(&out).unwrap();
    assert!(!dir.banner().contains("SYNTHETIC"), "{}", dir.banner());
    let p = dir.load("price:收盤價").unwrap();
    assert_eq!(p.columns, ["2330", "1101"]);
    assert_eq!(p.dates, days);
    assert!(p.get(2, 0).is_nan());
    assert_eq!(p.get(4, 0), 600.0);

    // A daily panel with a session the price calendar lacks (a Sunday).
    let mut bad_days = days.clone();
    bad_days[4] = days_from_civil(2024, 1, 7);
    write_finlab(
        &cache.join("price#開盤價.feather"),
        &bad_days,
        &[("2330", vec![Some(1.0); 5])],
        false,
        true,
    );
    let err = data::import::import_finlab(&cache, &tmp.path().join("x"), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DataError::CalendarMismatch { .. }), "{err}");
    assert!(err.to_string().contains("2024-01-07"), "{err}");
}

/// pandas/pyarrow read our files as wide frames (needs `python3` with pyarrow and pandas).
#[test]
#[ignore = "needs python3 with pyarrow and pandas"]
fn pyarrow_reads_the_files_as_wide_frames() {
    let dir = common::data_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/scripts/check_pyarrow.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let o = std::process::Command::new(python)
        .arg(script)
        .arg(&dir.path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("ok"), "{}", stdout(&o));
}

/// A small synthetic market of its own in `dir` (each test changes its copy).
fn small_market(dir: &Path) -> DataDir {
    let cfg = dsl_engine::data::synth::SynthConfig {
        stocks: Some(12),
        start: days_from_civil(2024, 1, 1),
        end: days_from_civil(2024, 6, 30),
        ..Default::default()
    };
    data::ensure(dir, &cfg, &mut |_| {}).unwrap()
}

fn strategy(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("s.strat");
    std::fs::write(&path, text).unwrap();
    path
}

const HOLD_ALL: &str = "from finlab import data\nfrom finlab.backtest import sim\n\
close = data.get(\"etl:adj_close\")\nposition = close > 0\nsim(position, resample=\"M\")\n";

/// Price panels whose values cannot be prices are refused with the file and column named, in
/// the library and through `backtest` (exit 2, not a backtest with thousands of trades).
#[test]
fn invalid_price_panels_are_refused_naming_file_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let days: Vec<i32> = [2, 3, 4]
        .iter()
        .map(|&d| days_from_civil(2024, 1, d))
        .collect();
    for (bad, what) in [
        (0.0, "0 on 2024-01-03"),
        (-5.0, "-5"),
        (f64::INFINITY, "inf"),
    ] {
        let dir = tmp.path().join(format!("bad{bad}"));
        std::fs::create_dir_all(&dir).unwrap();
        write_finlab(
            &dir.join("etl#adj_close.feather"),
            &days,
            &[
                ("1101", vec![Some(10.0), Some(bad), Some(10.0)]),
                ("2330", vec![Some(500.0); 3]),
            ],
            false,
            true,
        );
        let err = DataDir::open(&dir)
            .unwrap()
            .load("etl:adj_close")
            .unwrap_err();
        assert!(
            matches!(&err, DataError::Invalid { column, .. } if column == "1101"),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("etl#adj_close.feather") && text.contains(what),
            "{text}"
        );
        let o = engine(&dir)
            .args(["backtest"])
            .arg(strategy(tmp.path(), HOLD_ALL))
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("column `1101`"));
    }
    // No valid price anywhere.
    let dir = tmp.path().join("nan");
    std::fs::create_dir_all(&dir).unwrap();
    write_finlab(
        &dir.join("etl#adj_close.feather"),
        &days,
        &[("1101", vec![None; 3]), ("2330", vec![None; 3])],
        false,
        true,
    );
    let err = DataDir::open(&dir)
        .unwrap()
        .load("etl:adj_close")
        .unwrap_err();
    assert!(matches!(err, DataError::NoPrices { .. }), "{err}");
}

/// finlab's `code name` labels reduce to the code: two columns for one stock are refused, not
/// backtested twice.
#[test]
fn duplicate_stock_columns_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let days: Vec<i32> = [2, 3]
        .iter()
        .map(|&d| days_from_civil(2024, 1, d))
        .collect();
    write_finlab(
        &tmp.path().join("etl#adj_close.feather"),
        &days,
        &[
            ("2330 台積電", vec![Some(580.0), Some(590.0)]),
            ("2330", vec![Some(580.0), Some(600.0)]),
        ],
        false,
        true,
    );
    let err = DataDir::open(tmp.path())
        .unwrap()
        .load("etl:adj_close")
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Invalid { column, .. } if column == "2330"),
        "{err}"
    );
}

/// A valid but wrong file (one price × 1e6) no longer matches its recorded digest: loading
/// refuses it and `data verify` names it.
#[test]
fn a_changed_file_is_refused_by_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_market(&tmp.path().join("m"));
    let files = &dir.manifest.as_ref().unwrap().files;
    assert_eq!(files.len(), 136, "every file recorded");
    let digest = dir.digest().unwrap();
    assert_eq!(digest.len(), 64);
    let o = engine(&dir.path)
        .args(["data", "verify", "--data-dir"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("136 of 136 files match"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains(&digest), "{}", stdout(&o));

    let path = dir.path.join(feather::file_name("price:收盤價"));
    let mut p = feather::read_wide(&path).unwrap();
    let cell = p.values.iter().position(|v| !v.is_nan()).unwrap();
    p.values[cell] *= 1e6;
    feather::write_wide(&path, &p, &[("dsl_engine.synthetic", "true".into())]).unwrap();
    let fresh = DataDir::open(&dir.path).unwrap();
    let err = fresh.load("price:收盤價").unwrap_err();
    assert!(matches!(err, DataError::Modified { .. }), "{err}");
    assert!(err.to_string().contains("price#收盤價.feather"), "{err}");
    fresh.load("etl:adj_close").unwrap();
    assert_ne!(fresh.digest().unwrap(), "", "digest from the records");
    let o = engine(&dir.path)
        .args(["data", "verify", "--data-dir"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("CHANGED  price:收盤價"),
        "{}",
        stdout(&o)
    );
}

/// A data set written before digests existed gets them on first open; the default market's
/// logical digest is unchanged by it.
#[test]
fn old_manifests_get_digests_on_first_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_market(&tmp.path().join("m"));
    let manifest_path = dir.path.join(data::MANIFEST);
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let digest_before = dir.digest().unwrap();
    old.as_object_mut().unwrap().remove("files");
    std::fs::write(&manifest_path, serde_json::to_vec(&old).unwrap()).unwrap();
    let reopened = DataDir::open(&dir.path).unwrap();
    assert!(reopened.unverified.is_none());
    assert_eq!(reopened.manifest.as_ref().unwrap().files.len(), 136);
    assert_eq!(reopened.digest().unwrap(), digest_before);
    let on_disk: data::Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(on_disk.files.len(), 136, "written back");
    assert_eq!(on_disk.digest, dir.manifest.as_ref().unwrap().digest);
}

/// An empty data directory does not switch the key check off: a key outside the catalog and
/// the directory is refused by the checker (exit 1) and by the loader; a link that leads out of
/// the directory is refused too.
#[test]
fn keys_never_reach_outside_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside#x.feather");
    let days = [days_from_civil(2024, 1, 2)];
    write_finlab(&outside, &days, &[("2330", vec![Some(1.0)])], false, true);
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let dir = DataDir::open(&empty).unwrap();
    let err = dir.load("../outside:x").unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    let src = "from finlab import data\nfrom finlab.backtest import sim\n\
x = data.get(\"../outside:x\")\nsim(x > 0)\n";
    let o = engine(&empty)
        .args(["check"])
        .arg(strategy(tmp.path(), src))
        .arg("--data-dir")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, empty.join("etl#adj_close.feather")).unwrap();
        let err = DataDir::open(&empty)
            .unwrap()
            .load("etl:adj_close")
            .unwrap_err();
        assert!(matches!(err, DataError::OutsideDir { .. }), "{err}");
    }
}

/// Importing a synthetic data set keeps it synthetic.
#[test]
fn importing_synthetic_files_keeps_their_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_market(&tmp.path().join("m"));
    let out = tmp.path().join("imported");
    data::import::import_finlab(&dir.path, &out, &mut |_| {}).unwrap();
    let imported = DataDir::open(&out).unwrap();
    let m = imported.manifest.as_ref().unwrap();
    assert!(m.synthetic, "{m:?}");
    assert!(
        imported
            .banner()
            .contains("SYNTHETIC (tw-synth v1, seed 42)"),
        "{}",
        imported.banner()
    );
    let shape = feather::read_shape(&out.join(feather::file_name("etl:adj_close"))).unwrap();
    assert_eq!(shape.metadata["dsl_engine.synthetic"], "true");
    // Mixed with a real file: refused.
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for k in ["etl:adj_close", "price:收盤價"] {
        std::fs::copy(
            dir.path.join(feather::file_name(k)),
            mixed.join(feather::file_name(k)),
        )
        .unwrap();
    }
    let p = feather::read_wide(&mixed.join(feather::file_name("price:收盤價"))).unwrap();
    feather::write_wide(&mixed.join(feather::file_name("price:收盤價")), &p, &[]).unwrap();
    let err = data::import::import_finlab(&mixed, &tmp.path().join("x"), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("different origins"), "{err}");
}

/// Temporary directories of a killed generator are removed on the next start.
#[test]
fn stale_temporaries_of_killed_writers_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale_tmp = tmp.path().join(format!(".m.tmp-{dead}-0"));
    let stale_old = tmp.path().join(format!(".m.old-{dead}"));
    let live = tmp.path().join(format!(".m.tmp-{}-0", std::process::id()));
    for d in [&stale_tmp, &stale_old, &live] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("price#收盤價.feather"), b"partial").unwrap();
    }
    small_market(&tmp.path().join("m"));
    assert!(!stale_tmp.exists() && !stale_old.exists());
    assert!(live.exists(), "a live writer's directory is left alone");
}

/// A copied data set (new file times) is hashed on load; `data verify` renews the recorded
/// times so later loads are cheap again.
#[test]
fn verify_renews_the_times_of_a_copied_data_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_market(&tmp.path().join("m"));
    let path = dir.path.join(feather::file_name("etl:adj_close"));
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    let reopened = DataDir::open(&dir.path).unwrap();
    reopened.load("etl:adj_close").unwrap();
    assert!(reopened.verify().unwrap().passed());
    let m = DataDir::open(&dir.path).unwrap().manifest.unwrap();
    assert_eq!(m.files["etl:adj_close"].mtime_ns, 1_000_000_000_000_000);
}

/// A cached market written before datasets were added (same generator, version and
/// configuration, fewer keys) is regenerated on first use instead of being reused without them.
#[test]
fn a_cache_lacking_new_datasets_is_regenerated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = small_market(&tmp.path().join("m"));
    let key = "fundamental_features:EBITDA";
    let manifest_path = dir.path.join(data::MANIFEST);
    let mut m: data::Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert!(m.files.remove(key).is_some());
    std::fs::remove_file(dir.path.join(feather::file_name(key))).unwrap();
    std::fs::write(&manifest_path, serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(DataDir::open(&dir.path).unwrap().load(key).is_err());
    let again = small_market(&tmp.path().join("m"));
    assert_eq!(again.manifest.as_ref().unwrap().files.len(), 136);
    assert_eq!(
        again.manifest.as_ref().unwrap().digest,
        dir.manifest.as_ref().unwrap().digest
    );
    again.load(key).unwrap();
}

/// `data search` ranks the catalog by key, names, aliases and description (the whole catalog
/// without generating anything, or one data directory's datasets); `ops --datasets` lists the
/// catalog by category.
#[test]
fn datasets_are_found_by_name_alias_and_description() {
    let tmp = tempfile::tempdir().unwrap();
    let unused = tmp.path().join("never-generated");
    let run = |args: &[&str]| {
        let o = engine(&unused).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stdout(&o)
    };
    // (query, first key printed)
    for (q, first) in [
        ("pb", "price_earning_ratio:股價淨值比"),
        ("P/E", "price_earning_ratio:本益比"),
        ("EBITDA", "fundamental_features:EBITDA"),
        ("營業利益成長", "fundamental_features:營業利益成長率"),
        ("quick ratio", "fundamental_features:速動比率"),
        ("short sales", "margin_transactions:融券賣出"),
    ] {
        let text = run(&["data", "search", q]);
        assert!(text.starts_with(first), "{q}: {text}");
    }
    assert!(!unused.exists(), "search needs no data");
    let doc: serde_json::Value =
        serde_json::from_str(&run(&["data", "search", "revenue", "growth", "--json"])).unwrap();
    let keys: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"fundamental_features:營收成長率"),
        "{keys:?}"
    );
    assert!(run(&["data", "search", "zzzz"]).contains("no dataset matches"));

    let dir = small_market(&tmp.path().join("m"));
    let only = run(&[
        "data",
        "search",
        "ebitda",
        "--data-dir",
        dir.path.to_str().unwrap(),
    ]);
    assert!(only.starts_with("fundamental_features:EBITDA"), "{only}");

    let list = run(&["ops", "--datasets"]);
    let entries = data::catalog::entries().unwrap();
    for cat in data::catalog::CATEGORIES {
        let n = entries.iter().filter(|e| e.category == cat).count();
        assert!(list.contains(&format!("## {cat} ({n})")), "{cat}");
    }
    assert_eq!(list.matches("\n| `").count(), entries.len());
}
