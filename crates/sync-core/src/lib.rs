#![doc = include_str!("../README.md")]

pub mod audit;
mod binding;
pub mod conflict;
pub mod delivery;
mod engine;
pub mod projection;
mod retry;
pub mod store;
pub mod write_intent;
mod descriptor;
mod error;
mod event;
mod id;
pub mod object;
mod secret;
mod version;
mod webhook;

pub use binding::{
    Binding, DriftPolicy, InterfaceBinding, OwnershipMode, ResolutionPolicy, SyncPolicy,
    WriteMode,
};
pub use descriptor::{AuthMode, Capabilities, ProviderDescriptor, ProviderRegistry, SignatureScheme};
pub use error::{BoxError, Error};
pub use event::{CanonicalEvent, Change, LinkInfo, Removal};
pub use id::{
    BindingId, DeliveryId, EventKey, ExternalTarget, Interface, NativeId, ObjectKey, OrgId,
    ProviderKind, ResourceKind,
};
pub use object::{Canonical, Fields};
pub use secret::Secret;
pub use version::{Authority, ExternalVersion, Rank};
pub use webhook::{Headers, NormalizedWebhook, VerifiedWebhook, WebhookAdapter, WebhookRequest};
pub use engine::{
    jitter_for, BackfillReport, Engine, EngineBuilder, EngineConfig, EventOutcome, ProcessReport,
    Receipt, WriteResult,
};
pub use retry::RetryPolicy;
pub use store::{SyncStore, Transition};
