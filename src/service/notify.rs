//! Notify services (see `service`).
