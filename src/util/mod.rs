//! Small helpers shared across layers: crash-safe file writes, a seeded random generator and
//! terminal-safe text.

pub mod fs;
pub mod rng;
pub mod text;
