//! Virtual services and real servers.
//!
//! The control thread owns the `Registry` (the authoritative, editable list) and
//! publishes immutable `Snapshot`s; workers swap a new snapshot in between bursts.
//! Nothing here is written on the packet path.

mod ownership;
mod placement;
mod registry;
mod snapshot;
mod v6;
mod vs_index;
mod worker_config;

pub use ownership::Ownership;
pub use placement::ClusterPlacement;
pub use registry::{Registry, RegistryError};
pub use snapshot::{LocalKind, Real, Service, Snapshot, VsKey};
pub use v6::{Real6, Service6, Snapshot6, VsKey6};
pub use worker_config::WorkerConfig;
