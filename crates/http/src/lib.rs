#![doc = include_str!("../README.md")]

mod auth;
mod builder;
mod cache;
mod client;
mod error;
mod link;
mod outcome;
mod pagination;
mod ratelimit;
mod request;
mod retry;
mod send;
#[cfg(feature = "testing")]
pub mod testing;
mod time;

pub use auth::{Credentials, StaticToken};
pub use builder::{ApiClientBuilder, DEFAULT_USER_AGENT, default_http_client};
pub use client::ApiClient;
pub use error::{HttpError, RequestInfo, TransportKind};
pub use link::{LinkValue, find_link, parse_link_header};
pub use pagination::{
    ItemsAt, LinkPagination, OffsetPagination, PageNumberPagination, Pagination, ParamsIn,
    TokenPagination,
};
pub use ratelimit::{
    Admission, BudgetPolicy, BudgetSnapshot, LowBudget, Priority, RateLimitHeaders, RateLimitScope,
    RateLimits, Reserve, parse_reset, parse_retry_after,
};
pub use request::{ApiRequest, ApiResponse};
pub use retry::Jitter;
pub use time::{Clock, Sleeper, SystemClock, TokioSleeper};

/// The HTTP types the kit's API speaks, so an adapter needs no direct reqwest import.
pub use reqwest::{Method, StatusCode, Url, header};
