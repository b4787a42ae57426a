//! The lab's error type: a message for the user and, where there is one, what
//! to do next.

use std::fmt;

/// An error the CLI shows as `tlsscope: <message>` and, on the next line,
/// `hint: <hint>`. Every lab error is a user-facing failure (exit code 2).
#[derive(Debug)]
pub struct Error {
    message: String,
    hint: Option<String>,
}

/// Result with the lab's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Error { message: message.into(), hint: None }
    }

    /// Adds what the user can do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with where it happened (a file, an address).
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The message, without the hint.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Adds context to any displayable error, turning it into an [`Error`].
pub trait Context<T> {
    /// Wraps the error as `<context>: <error>`.
    fn context(self, context: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{context}: {e}")))
    }
}
