//! Pure signal-processing kernels: slices in, measurements out, no I/O.
//!
//! Each kernel allocates its buffers up front and gives the same result whatever block sizes
//! its input arrives in (tested).

pub mod ar;
pub mod correlation;
pub mod declick;
pub mod defects;
pub mod levels;
pub mod meter;
pub mod truepeak;

/// Reference signals shared by the kernels' tests.
#[cfg(test)]
pub(crate) mod test_noise {
    /// A reproducible noise source (xorshift), uniform in −1..1.
    pub(crate) struct Noise(pub(crate) u64);

    impl Noise {
        pub(crate) fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }
}

/// Counts the allocations a thread makes, for the tests that prove a real-time path (the
/// capture callback's side, the live meters) allocates nothing. The lib's test binary only.
#[cfg(test)]
pub(crate) mod test_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    fn count() {
        // `try_with`: a thread being torn down has no counter, and is not under test.
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call is passed unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Allocations this thread made while running `f`.
    pub(crate) fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
        let before = ALLOCATIONS.with(Cell::get);
        let r = f();
        (ALLOCATIONS.with(Cell::get) - before, r)
    }

    #[test]
    fn the_counter_sees_an_allocation() {
        let (n, v) = allocations_in(|| vec![1u8; 10]);
        assert_eq!((n, v.len()), (1, 10));
    }
}
