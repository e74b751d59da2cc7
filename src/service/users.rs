//! Users services (see `service`).
