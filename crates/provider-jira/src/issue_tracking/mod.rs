//! The issue tracking interface: issues (with their changelog), comments, labels and fix
//! versions (milestones).

pub(crate) mod body;
pub(crate) mod changelog;
pub(crate) mod comment;
pub(crate) mod issue;
pub(crate) mod label;
pub(crate) mod version;
