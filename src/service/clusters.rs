//! Clusters services (see `service`).
