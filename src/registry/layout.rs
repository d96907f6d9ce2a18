//! The layout of a log directory, by name: what samsa writes at each level
//! (see `storage::prune`), so that clean-up at open and topic deletion
//! remove those and nothing else.
//!
//! ```text
//! <dir>/meta.properties           identity (see `identity`)
//! <dir>/.lock                     the owner's lock
//! <dir>/topics/<topic>/           a topic: topic.properties, <partition>/
//! <dir>/deleted/<n>/              a deleted topic's directory, until removed
//! ```

use crate::identity;
use crate::storage::OwnNames;
use crate::topic::{name, TopicFiles};

pub(crate) const TOPICS_DIR: &str = "topics";
pub(crate) const DELETED_DIR: &str = "deleted";

/// The log directory itself.
pub(crate) struct Root;

/// `topics/`: one directory per topic, named by the topic.
pub(crate) struct Topics;

/// `deleted/`: deleted topics' directories, named by a counter.
pub(crate) struct Graveyard;

impl OwnNames for Root {
    fn file(&self, name: &str) -> bool {
        name == identity::LOCK_FILE
            || name.strip_suffix(".tmp").unwrap_or(name) == identity::FILE_NAME
    }

    fn dir(&self, name: &str) -> Option<&dyn OwnNames> {
        match name {
            TOPICS_DIR => Some(&Topics),
            DELETED_DIR => Some(&Graveyard),
            _ => None,
        }
    }
}

impl OwnNames for Topics {
    fn file(&self, _name: &str) -> bool {
        false
    }

    fn dir(&self, topic: &str) -> Option<&dyn OwnNames> {
        let internal = topic.starts_with(name::INTERNAL_PREFIX);
        name::validate(topic, internal)
            .is_ok()
            .then_some(&TopicFiles as &dyn OwnNames)
    }
}

impl OwnNames for Graveyard {
    fn file(&self, _name: &str) -> bool {
        false
    }

    fn dir(&self, name: &str) -> Option<&dyn OwnNames> {
        let counter = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
        counter.then_some(&TopicFiles as &dyn OwnNames)
    }
}
