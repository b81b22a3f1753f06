//! The binary wire format for panels crossing the sandbox boundary (host → guest inputs, guest →
//! host position). Little-endian, column-major, decoded defensively: corrupt bytes give a
//! [`WireError`], never a panic.
//!
//! ```text
//! "DSLP" u32:version u32:n_panels
//! per panel: str:name u32:n_dates u32:n_cols u8:kind i32*n_dates:dates str*n_cols:columns cells
//! kind 0: cells = f64*(n_dates*n_cols); kind 1 (a bool panel): cells = u8*(n_dates*n_cols), 0 or 1
//! kind 2: cells = u32:index of a values buffer handed over outside these bytes (the sandbox
//!         host writes each input's values straight into a buffer the guest allocated, so
//!         they are copied once; see [`encode_header`] and [`decode_with`])
//! str = u32:len + UTF-8 bytes
//! ```

/// A wide panel: dates (days since 1970-01-01) × columns (stock ids), values column-major, NaN = missing.
/// `V` is where the values live: an owned `Vec` (the default) or, in the guest, a buffer shared
/// with the table of inputs kept between evaluations.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelData<V = Vec<f64>> {
    pub name: String,
    pub dates: Vec<i32>,
    pub columns: Vec<String>,
    /// `values[c * dates.len() + r]` is row `r` of column `c`.
    pub values: V,
}

/// A decoded panel's value storage (see [`PanelData`]).
pub trait Values: From<Vec<f64>> {
    /// Number of cells.
    fn cells(&self) -> usize;
}

impl Values for Vec<f64> {
    fn cells(&self) -> usize {
        self.len()
    }
}

impl Values for std::rc::Rc<Vec<f64>> {
    fn cells(&self) -> usize {
        self.len()
    }
}

impl<T: Copy> PanelData<Vec<T>> {
    /// Value at row `r`, column `c`.
    pub fn get(&self, r: usize, c: usize) -> T {
        self.values[c * self.dates.len() + r]
    }

    /// Column `c` as a slice.
    pub fn column(&self, c: usize) -> &[T] {
        let n = self.dates.len();
        &self.values[c * n..(c + 1) * n]
    }
}

/// A position as the guest returns it: float weights, or a bool panel kept as 0/1 flags (one
/// byte per cell, not widened to floats: the backtest reads either).
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    Weights(PanelData),
    Flags(PanelData<Vec<u8>>),
}

impl Position {
    /// The dates (rows).
    pub fn dates(&self) -> &[i32] {
        match self {
            Position::Weights(p) => &p.dates,
            Position::Flags(p) => &p.dates,
        }
    }

    /// The stock ids (columns).
    pub fn columns(&self) -> &[String] {
        match self {
            Position::Weights(p) => &p.columns,
            Position::Flags(p) => &p.columns,
        }
    }

    /// As float weights (flags become 1.0 / 0.0).
    pub fn into_weights(self) -> PanelData {
        match self {
            Position::Weights(p) => p,
            Position::Flags(p) => PanelData {
                name: p.name,
                dates: p.dates,
                columns: p.columns,
                values: p.values.iter().map(|f| f64::from(*f)).collect(),
            },
        }
    }
}

/// Decodes the one panel of a guest result, keeping a bool panel as flags.
pub fn decode_position(bytes: &[u8]) -> Result<Position, WireError> {
    let mut r = Reader { bytes, pos: 0 };
    let n = r.header()?;
    if n != 1 {
        return Err(WireError::Count(n));
    }
    let (name, dates, columns, kind, cells) = r.grid()?;
    Ok(match kind {
        KIND_FLAGS => Position::Flags(PanelData {
            values: r.flags(cells, &name)?.to_vec(),
            name,
            dates,
            columns,
        }),
        KIND_F64 => Position::Weights(PanelData {
            values: r.floats(cells)?,
            name,
            dates,
            columns,
        }),
        _ => return Err(WireError::Kind(name)),
    })
}

const MAGIC: &[u8; 4] = b"DSLP";
const VERSION: u32 = 2;
const KIND_F64: u8 = 0;
const KIND_FLAGS: u8 = 1;
const KIND_EXTERN: u8 = 2;

/// Why panel bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    #[error("panel bytes are truncated at offset {0}")]
    Truncated(usize),
    #[error("panel bytes do not start with the DSLP magic")]
    Magic,
    #[error("panel format version {0} is not supported")]
    Version(u32),
    #[error("a panel name or column is not valid UTF-8")]
    Utf8,
    #[error("panel {0:?} declares a size that overflows")]
    Size(String),
    #[error("panel {0:?} has an unknown cell kind or a flag that is not 0 or 1")]
    Kind(String),
    #[error("a position must be one panel, the bytes hold {0}")]
    Count(usize),
    #[error(
        "panel {0:?} refers to a values buffer that is missing, used twice or of the wrong size"
    )]
    Extern(String),
}

/// Encodes panels.
pub fn encode(panels: &[&PanelData]) -> Vec<u8> {
    let size: usize = panels
        .iter()
        .map(|p| 64 + p.dates.len() * 4 + p.values.len() * 8 + p.columns.len() * 12)
        .sum();
    let mut out = Vec::with_capacity(size + 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(panels.len() as u32).to_le_bytes());
    for p in panels {
        put_str(&mut out, &p.name);
        out.extend_from_slice(&(p.dates.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.columns.len() as u32).to_le_bytes());
        out.push(KIND_F64);
        for d in &p.dates {
            out.extend_from_slice(&d.to_le_bytes());
        }
        for c in &p.columns {
            put_str(&mut out, c);
        }
        for v in &p.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// Encodes the names, dates and columns of `panels`; panel `i`'s values are not in the bytes
/// but in values buffer `slots[i]`, handed to [`decode_with`] separately (write them with
/// [`write_values`]).
pub fn encode_header(panels: &[&PanelData], slots: &[u32]) -> Vec<u8> {
    let size: usize = panels
        .iter()
        .map(|p| 64 + p.dates.len() * 4 + p.columns.len() * 12)
        .sum();
    let mut out = Vec::with_capacity(size + 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(panels.len() as u32).to_le_bytes());
    for (p, slot) in panels.iter().zip(slots) {
        put_str(&mut out, &p.name);
        out.extend_from_slice(&(p.dates.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.columns.len() as u32).to_le_bytes());
        out.push(KIND_EXTERN);
        for d in &p.dates {
            out.extend_from_slice(&d.to_le_bytes());
        }
        for c in &p.columns {
            put_str(&mut out, c);
        }
        out.extend_from_slice(&slot.to_le_bytes());
    }
    out
}

/// Writes `values` as little-endian f64 into `out` (which must be `8 * values.len()` bytes).
pub fn write_values(values: &[f64], out: &mut [u8]) {
    for (dst, v) in out.chunks_exact_mut(8).zip(values) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

/// Encodes one bool panel (column-major flags) compactly: one byte per cell. [`decode`] gives it
/// back as 0/1 floats.
pub fn encode_flags(name: &str, dates: &[i32], columns: &[String], flags: &[bool]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + dates.len() * 4 + columns.len() * 12 + flags.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    put_str(&mut out, name);
    out.extend_from_slice(&(dates.len() as u32).to_le_bytes());
    out.extend_from_slice(&(columns.len() as u32).to_le_bytes());
    out.push(KIND_FLAGS);
    for d in dates {
        out.extend_from_slice(&d.to_le_bytes());
    }
    for c in columns {
        put_str(&mut out, c);
    }
    out.extend(flags.iter().map(|f| u8::from(*f)));
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(WireError::Truncated(self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn str(&mut self) -> Result<String, WireError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError::Utf8)
    }

    /// `cells` little-endian floats.
    fn floats(&mut self, cells: usize) -> Result<Vec<f64>, WireError> {
        Ok(self
            .take(cells.saturating_mul(8))?
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect())
    }

    /// `cells` flags of panel `name`, each 0 or 1.
    fn flags(&mut self, cells: usize, name: &str) -> Result<&'a [u8], WireError> {
        let flags = self.take(cells)?;
        // OR-ing a chunk's bytes vectorises; stopping at the first bad byte would not.
        if flags
            .chunks(4096)
            .any(|c| c.iter().fold(0u8, |acc, &b| acc | b) > 1)
        {
            return Err(WireError::Kind(name.to_string()));
        }
        Ok(flags)
    }

    /// The magic and version; gives the number of panels.
    fn header(&mut self) -> Result<usize, WireError> {
        if self.take(4)? != MAGIC {
            return Err(WireError::Magic);
        }
        let version = self.u32()?;
        if version != VERSION {
            return Err(WireError::Version(version));
        }
        Ok(self.u32()? as usize)
    }

    /// One panel's name, dates, columns, cell kind and cell count (the cells follow).
    #[allow(clippy::type_complexity)]
    fn grid(&mut self) -> Result<(String, Vec<i32>, Vec<String>, u8, usize), WireError> {
        let name = self.str()?;
        let n_dates = self.u32()? as usize;
        let n_cols = self.u32()? as usize;
        let kind = self.take(1)?[0];
        let cells = n_dates
            .checked_mul(n_cols)
            .filter(|c| c.checked_mul(8).is_some())
            .ok_or_else(|| WireError::Size(name.clone()))?;
        let date_bytes = self.take(n_dates.saturating_mul(4))?;
        let dates = date_bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let mut columns = Vec::with_capacity(n_cols.min(1 << 16));
        for _ in 0..n_cols {
            columns.push(self.str()?);
        }
        Ok((name, dates, columns, kind, cells))
    }
}

/// Decodes panels written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<PanelData>, WireError> {
    decode_with(bytes, &mut |_, _| None)
}

/// Like [`decode`]; a panel of kind 2 takes its values from `values(index, cells)`, which
/// must give a buffer of exactly `cells` values (else [`WireError::Extern`]).
pub fn decode_with<V: Values>(
    bytes: &[u8],
    values: &mut dyn FnMut(u32, usize) -> Option<V>,
) -> Result<Vec<PanelData<V>>, WireError> {
    let mut r = Reader { bytes, pos: 0 };
    let n = r.header()?;
    let mut panels = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let (name, dates, columns, kind, cells) = r.grid()?;
        let values = match kind {
            KIND_F64 => r.floats(cells)?.into(),
            KIND_FLAGS => r
                .flags(cells, &name)?
                .iter()
                .map(|b| f64::from(*b))
                .collect::<Vec<f64>>()
                .into(),
            KIND_EXTERN => match values(r.u32()?, cells) {
                Some(v) if v.cells() == cells => v,
                _ => return Err(WireError::Extern(name)),
            },
            _ => return Err(WireError::Kind(name)),
        };
        panels.push(PanelData {
            name,
            dates,
            columns,
            values,
        });
    }
    Ok(panels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let p = PanelData {
            name: "price:收盤價".into(),
            dates: vec![1, 2, 3],
            columns: vec!["1101".into(), "2330".into()],
            values: vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0],
        };
        let bytes = encode(&[&p]);
        let back = decode(&bytes).unwrap();
        assert_eq!(back[0].columns, p.columns);
        assert!(back[0].get(1, 0).is_nan());
        assert_eq!(back[0].get(2, 1), 6.0);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(WireError::Magic));

        let flags = encode_flags("position", &[1, 2], &["a".into()], &[true, false]);
        let back = decode(&flags).unwrap();
        assert_eq!(back[0].values, vec![1.0, 0.0]);
        let mut bad = flags.clone();
        let last = bad.len() - 1;
        bad[last] = 7;
        assert!(matches!(decode(&bad), Err(WireError::Kind(_))));
        // A position keeps the flags as they are; weights stay floats.
        match decode_position(&flags).unwrap() {
            Position::Flags(f) => assert_eq!(f.values, vec![1, 0]),
            other => panic!("expected flags, got {other:?}"),
        }
        assert!(matches!(decode_position(&bad), Err(WireError::Kind(_))));
        let weights = decode_position(&encode(&[&p])).unwrap();
        assert_eq!(weights.dates(), &p.dates[..]);
        assert!(matches!(weights, Position::Weights(_)));
        assert!(matches!(
            decode_position(&encode(&[&p, &p])),
            Err(WireError::Count(2))
        ));
        for cut in 0..flags.len() {
            assert!(decode_position(&flags[..cut]).is_err());
        }
    }

    #[test]
    fn values_handed_over_outside_the_bytes() {
        let a = PanelData {
            name: "a".into(),
            dates: vec![1, 2],
            columns: vec!["x".into()],
            values: vec![1.5, f64::NAN],
        };
        let b = PanelData {
            name: "b".into(),
            dates: vec![1],
            columns: vec!["x".into(), "y".into()],
            values: vec![3.0, 4.0],
        };
        let header = encode_header(&[&a, &b], &[0, 1]);
        let mut bytes = vec![0u8; 16];
        write_values(&a.values, &mut bytes);
        assert_eq!(&bytes[..8], &1.5f64.to_le_bytes());
        let mut buffers = [Some(a.values.clone()), Some(b.values.clone())];
        let back = decode_with(&header, &mut |i, _| buffers.get_mut(i as usize)?.take()).unwrap();
        assert_eq!(back[1].values, b.values);
        assert!(back[0].get(1, 0).is_nan());
        // Missing, reused and wrongly sized buffers are errors, never a panic.
        assert!(matches!(decode(&header), Err(WireError::Extern(_))));
        let mut once = [Some(a.values.clone())];
        let twice = decode_with(&encode_header(&[&a, &a], &[0, 0]), &mut |_, _| {
            once[0].take()
        });
        assert!(matches!(twice, Err(WireError::Extern(_))));
        let short = decode_with(&header, &mut |_, _| Some(vec![0.0]));
        // A buffer can be shared (the guest keeps inputs between evaluations).
        let kept = std::rc::Rc::new(a.values.clone());
        let shared = decode_with(&encode_header(&[&a, &a], &[3, 3]), &mut |i, _| {
            (i == 3).then(|| kept.clone())
        })
        .unwrap();
        assert!(std::rc::Rc::ptr_eq(&shared[0].values, &shared[1].values));
        assert!(matches!(short, Err(WireError::Extern(_))));
        for cut in 0..header.len() {
            assert!(decode_with(&header[..cut], &mut |_, n| Some(vec![0.0; n])).is_err());
        }
    }
}
