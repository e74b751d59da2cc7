//! The heart of atlhyper-master: the v2.1 wire model, the messages and the actors.
//!
//! This crate knows neither HTTP nor SQL. Storage is reached through the small
//! [`store::Store`] trait, which the service implements with diesel and the unit tests
//! with an in-memory fake.

pub mod bus;
pub mod cluster;
pub mod command;
pub mod messages;
/// The v2.1 wire model, from its own crate (which the fuzz targets build alone).
pub use atlhyper_model as model;
pub mod registry;
pub mod store;
pub mod supervise;
