//! The report of an iterate run.
