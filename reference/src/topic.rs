//! Topics as the cluster metadata describes them, and Kafka's rules for their names.

use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::config::TopicConfig;
use crate::metadata::PartitionState;

/// Kafka's topic name rules (`Topic.validate`): 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and neither `.` nor `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    // The defect: only emptiness is checked.
    if crate::defects::active(crate::defects::Defect::TopicNamesUnchecked) && !name.is_empty() {
        return Ok(());
    }
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// A topic as the cluster metadata describes it, with its effective config.
#[derive(Clone)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionState>,
}

impl Topic {
    pub fn config(&self) -> TopicConfig {
        self.config.clone()
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }
}

/// Why a topic operation was refused: a Kafka error code and its message, returned as data.
#[derive(Debug, Clone)]
pub struct TopicError {
    pub code: ResponseError,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        TopicError { code, message: message.into() }
    }
}

impl From<crate::config::ConfigError> for TopicError {
    fn from(e: crate::config::ConfigError) -> Self {
        TopicError::new(ResponseError::InvalidConfig, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("orders", true)]
    #[case("a.b_c-D9", true)]
    #[case("", false)]
    #[case(".", false)]
    #[case("..", false)]
    #[case("has space", false)]
    #[case("ünïcode", false)]
    fn topic_names_follow_kafka(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(validate_topic_name(name).is_ok(), ok);
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }
}
