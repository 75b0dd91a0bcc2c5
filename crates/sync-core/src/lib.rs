#![doc = include_str!("../README.md")]

pub mod audit;
mod binding;
mod cache;
pub mod conflict;
pub mod delivery;
mod descriptor;
mod engine;
mod error;
mod event;
mod executor;
mod id;
pub mod marker;
pub mod object;
pub mod projection;
mod provider;
pub mod queue;
mod registry;
mod retry;
mod secret;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod version;
mod webhook;
pub mod write_intent;

pub use binding::{
    Binding, DriftPolicy, InterfaceBinding, OwnershipMode, ResolutionPolicy, SyncPolicy, WriteMode,
};
pub use descriptor::{AuthMode, Capabilities, ProviderDescriptor, SignatureScheme};
pub use engine::{
    BackfillProgress, BackfillReport, BackfillResource, Engine, EngineBuilder, EngineConfig,
    EventOutcome, PageProgress, PassOptions, PassReport, ProcessReport, Receipt, ResourceReport,
    WriteResult, jitter_for,
};
pub use error::{BoxError, Error};
pub use event::{CanonicalEvent, Change, LinkInfo, Removal};
pub use executor::{Connections, WriteExecutor};
pub use id::{
    BindingId, DeliveryId, EventKey, ExternalTarget, Interface, NativeId, ObjectKey, OrgId,
    ProviderKind, ResourceKind,
};
pub use object::{Canonical, Fields};
pub use provider::{
    CheckRunInput, Cicd, CommitStatusInput, GitForge, IssuePatch, IssueTracking, IssueTrackingExt,
    Observed, Page, PageRequest, Provider, ProviderHealth, PullRequestInput, RateLimitStatus,
    ReviewInput, RunnerRegistration,
};
pub use queue::WorkQueue;
pub use registry::{ConnectOptions, Credentials, ProviderPlugin, ProviderRegistry, ReadPurpose};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use store::{HttpCache, SyncStore, Transition};
pub use version::{Authority, ExternalVersion, Rank};
pub use webhook::{
    Headers, NormalizedWebhook, VerifiedWebhook, WebhookAdapter, WebhookKey, WebhookRequest,
};
