//! The issue tracking interface: issues, comments, labels and milestones.

pub(crate) mod comment;
pub(crate) mod issue;
pub(crate) mod label;
pub(crate) mod milestone;
