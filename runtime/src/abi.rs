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

use std::cell::RefCell;
use std::rc::Rc;

/// A values slot: written by the host (not yet read), or handed to evaluations.
enum Slot {
    Written(Vec<f64>),
    Ready(Rc<Vec<f64>>),
}

thread_local! {
    static SLOTS: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
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
    let out = crate::run_with(&plan, &data, &mut slot_values);
    drop(plan);
    drop(data);
    let len = out.len() as u64;
    let ptr = Box::into_raw(out.into_boxed_slice()) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}
