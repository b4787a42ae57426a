//! Renderers: text for people, JSON Lines for scripts.

pub mod explain;
pub mod json;
pub mod session;
pub mod text;
