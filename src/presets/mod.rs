//! Presets: adapters from what discovery found to the plain [`crate::jobs::Series`] the
//! pipeline reads, and to the Mackerel hosts a host target wants. `cloudfront` turns
//! distributions into the catalogue's series; `namespace` turns any namespace's metrics into
//! series named by the job's template.

pub mod cloudfront;
pub mod namespace;
