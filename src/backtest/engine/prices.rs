//! The day's prices of each stock: the fill price (`trade_at_price`) and the adjusted close.
//! A quiet book reads them straight from the columns; a busy one through row-major chunks
//! (`backtest::layout`), so a bar that touches hundreds of stocks reads one row, not one
//! column per stock.

use super::Columns;
use crate::backtest::layout;

/// Prices of the current bar, by stock index.
pub(super) struct PriceRows<'a> {
    cols: &'a Columns<'a>,
    /// Trading at the close: the trade price is the close, one chunk serves both.
    close_is_trade: bool,
    bar: usize,
    /// First bar of the chunks and the current bar's offset in them (busy books only).
    chunk_start: usize,
    offset: usize,
    trade_chunk: Vec<f64>,
    close_chunk: Vec<f64>,
}

impl<'a> PriceRows<'a> {
    pub(super) fn new(cols: &'a Columns<'a>, close_is_trade: bool) -> PriceRows<'a> {
        let chunk_len = if cols.busy {
            layout::CHUNK * cols.stocks.len()
        } else {
            0
        };
        PriceRows {
            cols,
            close_is_trade,
            bar: 0,
            chunk_start: 0,
            offset: 0,
            trade_chunk: vec![0.0; chunk_len],
            close_chunk: vec![0.0; if close_is_trade { 0 } else { chunk_len }],
        }
    }

    /// Moves to `bar` (bars come in order), refilling the chunks when it leaves them.
    pub(super) fn advance(&mut self, bar: usize) {
        self.bar = bar;
        if !self.cols.busy {
            return;
        }
        if bar == 0 || bar >= self.chunk_start + layout::CHUNK {
            self.chunk_start = bar;
            let end = (bar + layout::CHUNK).min(self.cols.bars.len());
            layout::fill_chunk(&self.cols.trade, bar, end, &mut self.trade_chunk);
            if !self.close_is_trade {
                layout::fill_chunk(&self.cols.close, bar, end, &mut self.close_chunk);
            }
        }
        self.offset = (bar - self.chunk_start) * self.cols.stocks.len();
    }

    /// Stock `k`'s fill price on the current bar (NaN: no quote).
    #[inline]
    pub(super) fn trade(&self, k: usize) -> f64 {
        if self.cols.busy {
            self.trade_chunk[self.offset + k]
        } else {
            self.cols.trade[k][self.bar]
        }
    }

    /// Stock `k`'s adjusted close on the current bar.
    #[inline]
    pub(super) fn close(&self, k: usize) -> f64 {
        match (self.cols.busy, self.close_is_trade) {
            (true, true) => self.trade_chunk[self.offset + k],
            (true, false) => self.close_chunk[self.offset + k],
            (false, _) => self.cols.close[k][self.bar],
        }
    }
}
