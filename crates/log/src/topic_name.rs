//! Kafka's rules for legal topic names.

use crate::LogError;

/// Longest legal topic name (Kafka's limit).
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Legal: 1..=249 chars of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate(name: &str) -> Result<(), LogError> {
    let invalid = |why: &str| Err(LogError::InvalidTopicName(format!("{name:?}: {why}")));
    if name.is_empty() {
        return invalid("name is empty");
    }
    if name == "." || name == ".." {
        return invalid("name cannot be '.' or '..'");
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return invalid("name is longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("legal characters are ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}
