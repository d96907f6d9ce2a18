//! Events for operators: `tracing` events when the `tracing` feature is
//! on, nothing at all (not even the evaluation of their fields) when it is
//! off. Every event has the target `samsa`, and names what happened and
//! where (the directory, topic, group or transactional id): see
//! `docs/OBSERVABILITY.md` for the list.

/// An event at `info` level (when the feature is on).
#[cfg(feature = "tracing")]
macro_rules! info {
    ($($t:tt)*) => { ::tracing::info!(target: "samsa", $($t)*) };
}

/// An event at `warn` level (when the feature is on).
#[cfg(feature = "tracing")]
macro_rules! warning {
    ($($t:tt)*) => { ::tracing::warn!(target: "samsa", $($t)*) };
}

/// An event at `error` level (when the feature is on).
#[cfg(feature = "tracing")]
macro_rules! error {
    ($($t:tt)*) => { ::tracing::error!(target: "samsa", $($t)*) };
}

/// An event at `debug` level (when the feature is on).
#[cfg(feature = "tracing")]
macro_rules! debug {
    ($($t:tt)*) => { ::tracing::debug!(target: "samsa", $($t)*) };
}

#[cfg(not(feature = "tracing"))]
macro_rules! info {
    ($($t:tt)*) => {};
}

#[cfg(not(feature = "tracing"))]
macro_rules! warning {
    ($($t:tt)*) => {};
}

#[cfg(not(feature = "tracing"))]
macro_rules! error {
    ($($t:tt)*) => {};
}

#[cfg(not(feature = "tracing"))]
macro_rules! debug {
    ($($t:tt)*) => {};
}

pub(crate) use {debug, error, info, warning};
