//! Examples live in this folder; run them with `cargo run -p kradle-examples --example NAME`.
