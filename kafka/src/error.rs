//! rdkafka's errors as samsa's.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use samsa_log::Error;

/// `e`, from `operation` on `target`: the samsa variant where there is
/// one, else [`Error::Kafka`].
pub(crate) fn from_kafka(operation: &'static str, target: &str, e: KafkaError) -> Error {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            Error::UnknownTopic {
                name: target.to_owned(),
            }
        }
        Some(RDKafkaErrorCode::TopicAlreadyExists) => Error::TopicExists {
            name: target.to_owned(),
        },
        _ => kafka(operation, target, e.to_string()),
    }
}

/// [`Error::Kafka`].
pub(crate) fn kafka(operation: &'static str, target: &str, reason: impl Into<String>) -> Error {
    Error::Kafka {
        operation,
        target: target.to_owned(),
        reason: reason.into(),
    }
}

/// Maps an rdkafka result.
pub(crate) trait Context<T> {
    fn context(self, operation: &'static str, target: &str) -> samsa_log::Result<T>;
}

impl<T> Context<T> for Result<T, KafkaError> {
    fn context(self, operation: &'static str, target: &str) -> samsa_log::Result<T> {
        self.map_err(|e| from_kafka(operation, target, e))
    }
}
