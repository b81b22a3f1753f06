//! The guest's exported ABI (wasm only): `dsl_alloc(len) -> ptr`, `dsl_free(ptr, len)` and
//! `dsl_eval(plan_ptr, plan_len, data_ptr, data_len) -> (ptr << 32 | len)` of the result buffer.
//! Buffers are boxed byte slices so their capacity is exactly their length.

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
    let out = crate::run(&plan, &data);
    drop(plan);
    drop(data);
    let len = out.len() as u64;
    let ptr = Box::into_raw(out.into_boxed_slice()) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}
