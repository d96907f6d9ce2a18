//! Records: what a producer appends ([`Record`], [`Header`]; key, value
//! and headers borrowed or owned) and what a read returns ([`Records`] of
//! [`RecordRef`]s borrowing the read buffer, or an [`OwnedRecord`]).

pub use crate::batch::{Headers, RecordRef, Records, RecordsIter};

use crate::show::Bytes;
use std::borrow::Cow;
use std::fmt;

/// One record to append: optional key, optional value, headers and an
/// optional timestamp.
///
/// A `Record` borrows its bytes where it can, so building one from slices
/// allocates nothing and the bytes are copied once, straight into the
/// encoded batch; it also takes them owned (a `Vec<u8>`, a `String`), so a
/// record built from `format!(..)` can be kept in a variable. A record
/// with a key and no value is a tombstone on compacted topics.
///
/// ```
/// use samsa_log::record::Header;
/// use samsa_log::Record;
///
/// let headers = [Header::new("trace-id", b"abc123")];
/// let r = Record::new(b"payload").key(b"user-42").headers(&headers).timestamp(1_700_000_000_000);
/// assert_eq!(r.value_bytes(), Some(&b"payload"[..]));
///
/// // Owned bytes: the record outlives the temporaries it was built from.
/// let r = Record::new(format!("order {}", 7)).key(String::from("user-42"));
/// assert_eq!(r.value_bytes(), Some(&b"order 7"[..]));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Record<'a> {
    pub(crate) key: Option<Cow<'a, [u8]>>,
    pub(crate) value: Option<Cow<'a, [u8]>>,
    pub(crate) headers: Cow<'a, [Header<'a>]>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) partition: Option<u32>,
}

/// Bytes a [`Record`] can take as its key or value: borrowed (`&[u8]`,
/// `&[u8; N]`, `&str`, `&Vec<u8>`, `&String`, anything `AsRef<[u8]>`),
/// kept without a copy, or owned (`Vec<u8>`, `String`, `Box<[u8]>`), moved
/// into the record.
pub trait RecordBytes<'a> {
    /// The bytes, borrowed or owned.
    fn into_record_bytes(self) -> Cow<'a, [u8]>;
}

impl<'a, T: AsRef<[u8]> + ?Sized> RecordBytes<'a> for &'a T {
    fn into_record_bytes(self) -> Cow<'a, [u8]> {
        Cow::Borrowed(self.as_ref())
    }
}

impl<'a> RecordBytes<'a> for Vec<u8> {
    fn into_record_bytes(self) -> Cow<'a, [u8]> {
        Cow::Owned(self)
    }
}

impl<'a> RecordBytes<'a> for String {
    fn into_record_bytes(self) -> Cow<'a, [u8]> {
        Cow::Owned(self.into_bytes())
    }
}

impl<'a> RecordBytes<'a> for Box<[u8]> {
    fn into_record_bytes(self) -> Cow<'a, [u8]> {
        Cow::Owned(self.into_vec())
    }
}

impl<'a> RecordBytes<'a> for Cow<'a, [u8]> {
    fn into_record_bytes(self) -> Cow<'a, [u8]> {
        self
    }
}

impl<'a> Record<'a> {
    /// A record with this value, no key, no headers, and the append time as
    /// its timestamp.
    pub fn new(value: impl RecordBytes<'a>) -> Self {
        Record {
            value: Some(value.into_record_bytes()),
            ..Record::default()
        }
    }

    /// A record with a key and no value: a tombstone on compacted topics.
    pub fn tombstone(key: impl RecordBytes<'a>) -> Self {
        Record {
            key: Some(key.into_record_bytes()),
            ..Record::default()
        }
    }

    /// Sets the key. The default partitioner routes records by key.
    pub fn key(mut self, key: impl RecordBytes<'a>) -> Self {
        self.key = Some(key.into_record_bytes());
        self
    }

    /// Sets the headers: a slice or array of them (borrowed) or a
    /// `Vec<Header>` (owned).
    pub fn headers(mut self, headers: impl Into<Cow<'a, [Header<'a>]>>) -> Self {
        self.headers = headers.into();
        self
    }

    /// Sets the create time in milliseconds since the Unix epoch. Without
    /// one, the time of the append is used.
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// Sends the record to this partition, whatever the producer's
    /// partitioner would choose (like Kafka's `ProducerRecord` partition).
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The explicit partition, if one was set.
    pub fn partition_number(&self) -> Option<u32> {
        self.partition
    }

    /// The key, if any.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value, if any.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The headers.
    pub fn header_list(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The explicit timestamp, if one was set.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Record");
        d.field("key", &Bytes(self.key.as_deref()))
            .field("value", &Bytes(self.value.as_deref()));
        if !self.headers.is_empty() {
            d.field("headers", &self.headers);
        }
        if let Some(t) = self.timestamp {
            d.field("timestamp", &t);
        }
        if let Some(p) = self.partition {
            d.field("partition", &p);
        }
        d.finish()
    }
}

/// A record header: a string key and a byte value that may be null, like
/// Kafka's. Keys may repeat; order is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's name.
    pub key: &'a str,
    /// The header's value; `None` is null (Kafka's `null`), not empty.
    pub value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// A header with this name and value.
    pub fn new<V: AsRef<[u8]> + ?Sized>(key: &'a str, value: &'a V) -> Self {
        Header {
            key,
            value: Some(value.as_ref()),
        }
    }

    /// A header with this name and a null value.
    pub fn null(key: &'a str) -> Self {
        Header { key, value: None }
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", self.key, Bytes(self.value))
    }
}

/// A record that owns its bytes, as read back from a topic: what
/// [`ConsumerRecord::into_owned`](crate::consumer::ConsumerRecord::into_owned) and
/// [`Topic::history`](crate::Topic::history) give. It can be kept past
/// the poll that returned it, sent to another thread or task, and compared
/// in tests (Kafka's `ConsumerRecord`, owned).
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset in the partition.
    pub offset: u64,
    /// Milliseconds since the epoch (create or log-append time).
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// The headers, in order: name and value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl OwnedRecord {
    /// A copy of `r`, read from `topic`/`partition`.
    pub(crate) fn copy_of(topic: &str, partition: u32, r: &crate::record::RecordRef<'_>) -> Self {
        OwnedRecord {
            topic: topic.to_owned(),
            partition,
            offset: r.offset(),
            timestamp: r.timestamp(),
            key: r.key().map(<[u8]>::to_vec),
            value: r.value().map(<[u8]>::to_vec),
            headers: r
                .headers()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
        }
    }

    /// The value as UTF-8 text, if it is some.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(self.value.as_deref()?).ok()
    }

    /// The key as UTF-8 text, if it is some.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(self.key.as_deref()?).ok()
    }
}

impl fmt::Debug for OwnedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OwnedRecord");
        d.field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &Bytes(self.key.as_deref()))
            .field("value", &Bytes(self.value.as_deref()));
        if !self.headers.is_empty() {
            let headers: Vec<Header<'_>> = self
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k,
                    value: v.as_deref(),
                })
                .collect();
            d.field("headers", &headers);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let h = [Header::new("a", "1")];
        let r = Record::new("v").key("k").headers(&h).timestamp(7);
        assert_eq!(r.key_bytes(), Some(&b"k"[..]));
        assert_eq!(r.value_bytes(), Some(&b"v"[..]));
        assert_eq!(r.header_list(), &h);
        assert_eq!(r.timestamp_ms(), Some(7));
    }

    #[test]
    fn tombstone_has_no_value() {
        let r = Record::tombstone("k");
        assert_eq!(r.value_bytes(), None);
        assert_eq!(r.key_bytes(), Some(&b"k"[..]));
    }
}
