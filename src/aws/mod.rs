//! AWS without an SDK. The service modules (`cloudfront`, `cloudwatch`, `ssm`, `tagging`)
//! call through [`client::Aws`]; below it, `request` signs, sends and retries one call,
//! `retries` says how often and after how long (and corrects a skewed clock), `credentials`
//! finds what to sign with (the SDKs' chain, with `profile`, `metadata` and `sts`), `endpoint`
//! says where each service is, `error` what an error answer means and `pages` when a paginated
//! listing has gone on too long.
//! Nothing here knows about jobs or Mackerel.

pub mod client;
pub mod cloudfront;
pub mod cloudwatch;
pub mod credentials;
mod detect;
pub mod endpoint;
mod error;
pub mod keys;
mod metadata;
pub mod pages;
mod process;
mod profile;
pub mod request;
mod retries;
mod sign;
pub mod ssm;
mod sts;
pub mod tagging;

pub use client::{Aws, Settings};
pub use keys::Role;
