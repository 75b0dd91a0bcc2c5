//! The issue tracking interface: issues, notes (comments), labels and milestones.

pub(crate) mod issue;
pub(crate) mod label;
pub(crate) mod milestone;
pub(crate) mod note;
