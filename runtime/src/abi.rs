//! The guest's exported ABI (wasm only): `dsl_alloc(len) -> ptr`, `dsl_free(ptr, len)`,
//! `dsl_alloc_values(cells) -> ptr` and
//! `dsl_eval(plan_ptr, plan_len, data_ptr, data_len) -> (ptr << 32 | len)` of the result buffer.
//! Byte buffers are boxed slices so their capacity is exactly their length. Values buffers are
//! `Vec<f64>`s kept in a table in allocation order: the host writes an input panel's values
//! straight into one, and the panel (wire kind 2) takes it by index — copied once, not three
//! times. Buffers not taken are freed when `dsl_eval` returns.

use std::cell::RefCell;

thread_local! {
    static VALUES: RefCell<Vec<Option<Vec<f64>>>> = const { RefCell::new(Vec::new()) };
}

/// Allocates a zeroed buffer of `cells` f64 for the host to write one panel's values into;
/// the `i`-th call's buffer is values buffer `i` of the next `dsl_eval`.
#[no_mangle]
pub extern "C" fn dsl_alloc_values(cells: u32) -> *mut f64 {
    let mut v = vec![0.0f64; cells as usize];
    let ptr = v.as_mut_ptr();
    // Moving the Vec into the table does not move its heap buffer: `ptr` stays valid.
    VALUES.with(|t| t.borrow_mut().push(Some(v)));
    ptr
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

/// Evaluates a plan on input panels; takes ownership of both buffers (frees them).
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
    let mut take = |i: u32, _cells: usize| {
        VALUES.with(|t| t.borrow_mut().get_mut(i as usize).and_then(Option::take))
    };
    let out = crate::run_with(&plan, &data, &mut take);
    VALUES.with(|t| t.borrow_mut().clear());
    drop(plan);
    drop(data);
    let len = out.len() as u64;
    let ptr = Box::into_raw(out.into_boxed_slice()) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}
