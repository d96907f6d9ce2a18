//! Topic ids: a topic deleted and created again under the same name is a
//! new topic, with a new id, as in Kafka (KIP-516).

use std::fmt;
use std::str::FromStr;

/// A topic's id: 128 random bits given when the topic is created and kept
/// in its metadata, printed as Kafka prints a topic id (22 characters of
/// URL-safe base64). A topic deleted and created again under the same
/// name gets a new id: handles to the old one then answer
/// [`Error::UnknownTopic`](crate::Error::UnknownTopic).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicId(u128);

impl TopicId {
    /// A new random id.
    pub(crate) fn random() -> TopicId {
        TopicId(crate::id::random_u128())
    }

    /// The id with these 128 bits.
    pub fn from_u128(bits: u128) -> TopicId {
        TopicId(bits)
    }

    /// The id's 128 bits.
    pub fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::id::encode(self.0))
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// The text is not a topic id as [`TopicId`]'s `Display` writes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTopicIdError;

impl fmt::Display for ParseTopicIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a topic id: expected 22 characters of URL-safe base64")
    }
}

impl std::error::Error for ParseTopicIdError {}

impl FromStr for TopicId {
    type Err = ParseTopicIdError;

    fn from_str(s: &str) -> Result<TopicId, ParseTopicIdError> {
        crate::id::decode(s).map(TopicId).ok_or(ParseTopicIdError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses_as_kafka_does() {
        let id = TopicId::random();
        assert_eq!(id.to_string().len(), 22);
        assert_eq!(id.to_string().parse::<TopicId>(), Ok(id));
        assert_ne!(TopicId::random(), id);
        assert_eq!("x".parse::<TopicId>(), Err(ParseTopicIdError));
    }
}
