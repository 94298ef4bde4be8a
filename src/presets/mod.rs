//! Presets: adapters from what discovery found for one job to what the pipeline reads. Each
//! preset's `expand` gives one [`Expansion`], the same shape for every kind of job: the plain
//! [`crate::jobs::Series`] to read, the Mackerel hosts a host target wants ([`HostJob`]), host
//! graph definitions, and what `list` shows of each resource. `cloudfront` turns
//! distributions into the catalogue's series; `namespace` turns any namespace's metrics into
//! series named by the job's template. What a preset writes into a host's `meta` is its own:
//! it alone reads it back ([`HostJob::shown`]).

pub mod cloudfront;
mod expansion;
pub mod namespace;

pub use expansion::{Expansion, HostJob, Table, or_dash};
