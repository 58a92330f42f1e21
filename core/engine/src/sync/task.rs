//! Upload and download tasks.
