#![doc = include_str!("../README.md")]

mod receiver;
mod worker;

pub use receiver::{Receiver, ReceiverSettings, serve, shutdown_signal, worker_health_router};
pub use worker::{Totals, Worker, WorkerSettings, WorkerStatus, default_id};
