//! Ground layer: reading a body by its content type, as MassTransit picks its
//! deserializer: `application/vnd.masstransit+json` (or none) is the
//! envelope, `application/json` a raw message (the body is the message; its
//! ids come from the AMQP properties), anything else is refused with a
//! reason. Uses the envelope and the header names.

use std::borrow::Cow;

use serde_json::Value;

use super::envelope::{new_message_id, Incoming, IncomingHeaders, Text};
use super::headers::CONTENT_TYPE;
use crate::error::{Error, Result};

/// MassTransit's raw JSON content type.
pub const RAW_JSON: &str = "application/json";

/// How a body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A MassTransit JSON envelope.
    Envelope,
    /// Raw JSON: the body is the message itself.
    Raw,
}

/// The reader for a content type (media type parameters such as `charset`
/// and ASCII case ignored); none means the envelope, MassTransit's default.
/// An unsupported type is an error naming it.
///
/// ```
/// use isoqube::wire::content::{reader, Reader};
/// assert_eq!(reader(None), Ok(Reader::Envelope));
/// assert_eq!(reader(Some("application/json; charset=utf-8")), Ok(Reader::Raw));
/// assert!(reader(Some("application/vnd.masstransit+xml")).is_err());
/// ```
pub fn reader(content_type: Option<&str>) -> std::result::Result<Reader, String> {
    let Some(ct) = content_type else {
        return Ok(Reader::Envelope);
    };
    let media = ct.split(';').next().unwrap_or_default().trim();
    if media.is_empty() || media.eq_ignore_ascii_case(CONTENT_TYPE) {
        Ok(Reader::Envelope)
    } else if media.eq_ignore_ascii_case(RAW_JSON) {
        Ok(Reader::Raw)
    } else {
        Err(format!(
            "content type '{ct}' is not supported (only {CONTENT_TYPE} and {RAW_JSON} are read)"
        ))
    }
}

impl Incoming<'static> {
    /// A raw JSON message as an envelope with no types (a raw message says
    /// nothing of its type: it is taken as the consumer's), its ids from the
    /// AMQP properties (a fresh message id when it has none).
    pub(crate) fn raw(
        body: &[u8],
        message_id: Option<&str>,
        correlation_id: Option<&str>,
    ) -> Result<Self> {
        let message: Value = serde_json::from_slice(body)
            .map_err(|e| Error::Malformed(format!("raw JSON body is not JSON: {e}")))?;
        if !message.is_object() {
            return Err(Error::Malformed(
                "raw JSON body is not a JSON object".into(),
            ));
        }
        let owned = |s: &str| Text(Cow::Owned(s.to_string()));
        Ok(Incoming {
            message_id: match message_id.filter(|m| !m.trim().is_empty()) {
                Some(id) => owned(id),
                None => owned(&new_message_id().to_string()),
            },
            request_id: None,
            response_address: None,
            correlation_id: correlation_id.map(owned),
            conversation_id: None,
            message_type: Vec::new(),
            message,
            headers: IncomingHeaders::default(),
            redelivery_count: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_pick_the_reader() {
        for ct in [
            None,
            Some(""),
            Some("application/vnd.masstransit+json"),
            Some("Application/VND.MassTransit+JSON; charset=utf-8"),
        ] {
            assert_eq!(reader(ct), Ok(Reader::Envelope), "{ct:?}");
        }
        for ct in ["application/json", "APPLICATION/JSON;charset=utf-8"] {
            assert_eq!(reader(Some(ct)), Ok(Reader::Raw), "{ct}");
        }
        for ct in [
            "application/vnd.masstransit+xml",
            "application/vnd.masstransit+bson",
            "text/plain",
        ] {
            let err = reader(Some(ct)).unwrap_err();
            assert!(err.contains(ct), "{err}");
        }
    }

    #[test]
    fn raw_body_is_the_message_with_ids_from_properties() {
        let raw = Incoming::raw(br#"{"text":"hi"}"#, Some("m-1"), Some("c-1")).unwrap();
        assert_eq!(&*raw.message_id, "m-1");
        assert_eq!(raw.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(raw.message["text"], "hi");
        assert!(raw.message_type.is_empty());
        assert_eq!(raw.run_step(), Ok(None));
        let fresh = Incoming::raw(b"{}", None, None).unwrap();
        assert!(uuid::Uuid::parse_str(&fresh.message_id).is_ok());
        for bad in [&b"[1]"[..], b"not json", b""] {
            assert!(matches!(
                Incoming::raw(bad, None, None),
                Err(Error::Malformed(_))
            ));
        }
    }
}
