//! Small helpers shared across layers: crash-safe file writes and terminal-safe text.

pub mod fs;
pub mod text;
