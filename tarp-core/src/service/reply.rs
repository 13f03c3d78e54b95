//! What a web handler returns, and how it is answered (PROTOCOL.md section 6).

use std::borrow::Cow;

use crate::http::Response;
use crate::wire::envelope::{self, ErrorKind};

/// A web handler's answer.
///
/// | variant | envelope `mimetype` | envelope `result` |
/// |---|---|---|
/// | [`Reply::Json`] | the endpoint's result MIME type, else `application/json` | the value |
/// | [`Reply::Serialized`] | the same as [`Reply::Json`] | the value |
/// | [`Reply::Text`] | the endpoint's result MIME type, else `text/plain` | the string |
/// | [`Reply::Bytes`] | the endpoint's result MIME type, else `application/octet-stream` | base64 of the bytes |
/// | [`Reply::None`] | `null` | `null` |
/// | [`Reply::Raw`] | no envelope: status 200, the bytes as the body with `Content-Type: mime` | |
///
/// Unlike the Python server, `0`, `false`, `""` and empty containers stay what they are
/// (Python turns them into `null`), and a string is sent as text (Python sends it base64).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A JSON value (usually a map or a list).
    Json(serde_json::Value),
    /// A value already written as JSON text by [`Reply::serialize`].
    Serialized(SerializedJson),
    /// Text.
    Text(String),
    /// Binary data, base64-encoded in the envelope.
    Bytes(Vec<u8>),
    /// Nothing.
    None,
    /// A raw payload with its MIME type, sent without an envelope (e.g. a PNG for a browser).
    Raw {
        /// The `Content-Type` to send; empty means `application/octet-stream`.
        mime: String,
        /// The body.
        bytes: Vec<u8>,
    },
}

impl Reply {
    /// A JSON reply.
    pub fn json(value: impl Into<serde_json::Value>) -> Reply {
        Reply::Json(value.into())
    }

    /// A JSON reply from any serializable value, written as JSON text at once (no
    /// [`serde_json::Value`] tree in between): the envelope is the same as for
    /// [`Reply::json`] of the same value.
    pub fn serialize<T: serde::Serialize + ?Sized>(
        value: &T,
    ) -> Result<Reply, crate::service::Error> {
        envelope::to_python_json(value)
            .map(|text| Reply::Serialized(SerializedJson(text)))
            .map_err(|e| {
                crate::service::Error::failed(format!("result is not representable as JSON: {e}"))
            })
    }

    /// A text reply.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::Text(text.into())
    }

    /// A binary reply (base64 in the envelope).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Bytes(bytes.into())
    }

    /// A raw payload sent as the response body with this `Content-Type`.
    pub fn raw(mime: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw {
            mime: mime.into(),
            bytes: bytes.into(),
        }
    }

    /// The response answering this reply for an endpoint with this registered result MIME type.
    pub fn into_response(self, registered_mimetype: Option<&str>) -> Response {
        let mime = |default: &'static str| Some(registered_mimetype.unwrap_or(default));
        match self {
            Reply::Json(v) => envelope::success(mime("application/json"), &v),
            Reply::Serialized(text) => {
                envelope::success_json_text(mime("application/json"), &text.0)
            }
            Reply::Text(t) => envelope::success(mime("text/plain"), &t),
            Reply::Bytes(b) => envelope::success_base64(mime("application/octet-stream"), &b),
            Reply::None => envelope::success(None, &serde_json::Value::Null),
            Reply::Raw { mime, bytes } => {
                let mime = if mime.is_empty() {
                    "application/octet-stream".to_owned()
                } else {
                    mime
                };
                // A header value must not carry control characters (response splitting).
                if mime.bytes().any(|b| b.is_ascii_control() || !b.is_ascii()) {
                    return envelope::error(
                        ErrorKind::Generic,
                        "raw reply has an invalid MIME type",
                    );
                }
                Response::new(200, Some(Cow::Owned(mime)), bytes)
            }
        }
    }
}

/// JSON text made by [`Reply::serialize`]: one JSON value, as the envelope writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SerializedJson(Vec<u8>);

impl SerializedJson {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        // Written by serde_json, which writes UTF-8 only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<serde_json::Value> for Reply {
    fn from(v: serde_json::Value) -> Reply {
        Reply::Json(v)
    }
}

impl From<String> for Reply {
    fn from(s: String) -> Reply {
        Reply::Text(s)
    }
}

impl From<&str> for Reply {
    fn from(s: &str) -> Reply {
        Reply::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Reply {
    fn from(b: Vec<u8>) -> Reply {
        Reply::Bytes(b)
    }
}

impl From<()> for Reply {
    fn from(_: ()) -> Reply {
        Reply::None
    }
}

impl From<crate::wire::query::Query> for Reply {
    fn from(q: crate::wire::query::Query) -> Reply {
        Reply::Json(q.into())
    }
}
