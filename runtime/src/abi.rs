//! The guest's exported ABI (wasm only): `dsl_alloc(len) -> ptr`, `dsl_free(ptr, len)`,
//! `dsl_alloc_values(slot, cells) -> ptr`, `dsl_free_values(slot)` and
//! `dsl_eval(plan_ptr, plan_len, data_ptr, data_len) -> (ptr << 32 | len)` of the result buffer.
//! Byte buffers are boxed slices so their capacity is exactly their length.
//!
//! Values buffers are `Vec<f64>`s in a table of slots the host numbers: the host writes an input
//! panel's values straight into one, and the panel (wire kind 2) refers to it by slot. A slot
//! outlives `dsl_eval`: the host keeps an instance and its inputs between evaluations, so an
//! input already in the guest is not copied again. The evaluator shares a slot's buffer (it
//! never writes into it) until the host frees the slot.
//!
//! Intermediate results are kept between evaluations too, in a reuse store
//! (`dsl_reuse_budget(mib)`, 0 by default: nothing kept; see [`crate::eval::reuse`]). A slot's
//! buffer has an identity, unique in the instance, that results computed from it are keyed by;
//! a slot freed or written again, or sent with other dates or columns, takes a new identity and
//! drops what was computed from the old one. `dsl_reuse_stats()` reports the last evaluation.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::eval::reuse::Store;
use crate::eval::SharedPanelData;

/// A values slot: written by the host (not yet read), or handed to evaluations.
enum Slot {
    Written(Vec<f64>),
    Ready(Rc<Vec<f64>>),
}

/// What identifies a slot's values for reuse: an identity and the grid they were first sent
/// with.
struct Identity {
    id: u64,
    grid: Option<(Vec<i32>, Vec<String>)>,
}

thread_local! {
    static SLOTS: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
    static IDS: RefCell<Vec<Option<Identity>>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    static REUSE: RefCell<Store> = RefCell::new(Store::new());
    /// Identities retired since the store last dropped their results.
    static RETIRED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Drops the results computed from retired identities (none can be read any more: an
/// identity is never given out twice; this frees their memory).
fn forget_retired() {
    let retired = RETIRED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    if !retired.is_empty() {
        REUSE.with(|r| {
            let mut store = r.borrow_mut();
            retired.iter().for_each(|id| store.forget(*id));
        });
    }
}

fn fresh_id() -> u64 {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

/// Gives slot `slot` a new identity (or none), dropping the results computed from its old one.
fn retire(slot: u32, new: Option<u64>) {
    let old = IDS.with(|t| {
        let mut t = t.borrow_mut();
        let i = slot as usize;
        if t.len() <= i {
            t.resize_with(i + 1, || None);
        }
        std::mem::replace(&mut t[i], new.map(|id| Identity { id, grid: None }))
    });
    if let Some(old) = old {
        RETIRED.with(|r| r.borrow_mut().push(old.id));
    }
}

/// The identity of the slot whose buffer `p`'s values are; a grid other than the one the slot
/// was first sent with gives the slot a new identity.
fn identity(p: &SharedPanelData) -> Option<u64> {
    let slot = SLOTS.with(|t| {
        t.borrow()
            .iter()
            .position(|s| matches!(s, Some(Slot::Ready(v)) if Rc::ptr_eq(v, &p.values)))
    })?;
    let same = IDS.with(|t| {
        let mut t = t.borrow_mut();
        let ident = t.get_mut(slot)?.as_mut()?;
        match &ident.grid {
            None => {
                ident.grid = Some((p.dates.clone(), p.columns.clone()));
                Some(Some(ident.id))
            }
            Some((d, c)) if *d == p.dates && *c == p.columns => Some(Some(ident.id)),
            Some(_) => Some(None),
        }
    })?;
    if let Some(id) = same {
        return Some(id);
    }
    let id = fresh_id();
    retire(slot as u32, Some(id));
    IDS.with(|t| {
        if let Some(Some(ident)) = t.borrow_mut().get_mut(slot) {
            ident.grid = Some((p.dates.clone(), p.columns.clone()));
        }
    });
    Some(id)
}

/// Sets the reuse store's budget to `mib` MiB (0: keep nothing), dropping least recently used
/// results until the rest fit.
#[no_mangle]
pub extern "C" fn dsl_reuse_budget(mib: u32) {
    forget_retired();
    REUSE.with(|r| r.borrow_mut().set_budget((mib as usize) << 20));
}

/// The last evaluation's reuse figures: `hits << 48 | misses << 32 | bytes held >> 20 (MiB)`.
#[no_mangle]
pub extern "C" fn dsl_reuse_stats() -> u64 {
    REUSE.with(|r| {
        let r = r.borrow();
        let clip = |n: u32| u64::from(n.min(0xFFFF));
        (clip(r.stats.hits) << 48)
            | (clip(r.stats.misses) << 32)
            | (r.used() as u64 >> 20).min(0xFFFF_FFFF)
    })
}

/// Allocates slot `slot` (freeing what it held) with room for `cells` f64, for the host to write
/// one panel's values into. The memory is not zeroed: the host writes every cell before the
/// next `dsl_eval`.
#[no_mangle]
pub extern "C" fn dsl_alloc_values(slot: u32, cells: u32) -> *mut f64 {
    let mut v: Vec<f64> = Vec::with_capacity(cells as usize);
    let ptr = v.as_mut_ptr();
    // Moving the Vec into the table does not move its heap buffer: `ptr` stays valid.
    SLOTS.with(|t| {
        let mut t = t.borrow_mut();
        let i = slot as usize;
        if t.len() <= i {
            t.resize_with(i + 1, || None);
        }
        t[i] = Some(Slot::Written(v));
    });
    retire(slot, Some(fresh_id()));
    ptr
}

/// Frees values slot `slot` (a no-op for an empty slot).
#[no_mangle]
pub extern "C" fn dsl_free_values(slot: u32) {
    SLOTS.with(|t| {
        if let Some(s) = t.borrow_mut().get_mut(slot as usize) {
            *s = None;
        }
    });
    retire(slot, None);
}

/// The shared buffer of slot `i` holding exactly `cells` values, if there is one.
fn slot_values(i: u32, cells: usize) -> Option<Rc<Vec<f64>>> {
    SLOTS.with(|t| {
        let mut t = t.borrow_mut();
        let s = t.get_mut(i as usize)?;
        if let Some(Slot::Written(v)) = s {
            if v.capacity() < cells {
                return None;
            }
            let mut v = std::mem::take(v);
            // SAFETY: the capacity holds `cells` f64 and the host wrote all of them into this
            // buffer (through the linear memory) right after `dsl_alloc_values`; every bit
            // pattern is a valid f64.
            unsafe { v.set_len(cells) };
            *s = Some(Slot::Ready(Rc::new(v)));
        }
        match s {
            Some(Slot::Ready(v)) if v.len() == cells => Some(v.clone()),
            _ => None,
        }
    })
}

/// Allocates `len` zeroed bytes for the host to write into.
#[no_mangle]
pub extern "C" fn dsl_alloc(len: u32) -> *mut u8 {
    Box::into_raw(vec![0u8; len as usize].into_boxed_slice()) as *mut u8
}

/// Frees a buffer from [`dsl_alloc`] or a `dsl_eval` result.
///
/// # Safety
/// `ptr`/`len` must come from `dsl_alloc` or `dsl_eval` and be freed once.
#[no_mangle]
pub unsafe extern "C" fn dsl_free(ptr: *mut u8, len: u32) {
    // SAFETY: the caller passes a pointer/length pair this module boxed.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len as usize)) });
}

/// Evaluates a plan on input panels; takes ownership of both buffers (frees them). Values slots
/// stay allocated.
///
/// # Safety
/// Both pointer/length pairs must come from `dsl_alloc`.
#[no_mangle]
pub unsafe extern "C" fn dsl_eval(
    plan_ptr: *mut u8,
    plan_len: u32,
    data_ptr: *mut u8,
    data_len: u32,
) -> u64 {
    // SAFETY: the host wrote into buffers it got from dsl_alloc with these lengths.
    let plan = unsafe {
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            plan_ptr,
            plan_len as usize,
        ))
    };
    // SAFETY: as above.
    let data = unsafe {
        Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            data_ptr,
            data_len as usize,
        ))
    };
    forget_retired();
    let out = REUSE.with(|r| {
        let mut store = r.borrow_mut();
        store.begin();
        let reuse = (store.budget() > 0).then_some(crate::Reusing {
            store: &mut store,
            id: &identity,
        });
        crate::run_with(&plan, &data, &mut slot_values, reuse)
    });
    forget_retired();
    drop(plan);
    drop(data);
    let len = out.len() as u64;
    let ptr = Box::into_raw(out.into_boxed_slice()) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}
