//! Commands services (see `service`).
