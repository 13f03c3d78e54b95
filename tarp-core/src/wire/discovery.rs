//! The discovery document answered at `GET /` (PROTOCOL.md section 3).
//!
//! ```json
//! {"GET":      [{"name": "echo", "description": "..", "query_params": ["a"], "mimetype": null}],
//!  "POST":     [{"name": "pecho", "description": "..", "query_params": [],
//!                "payload_mimetype": "application/json", "payload_schema": {"type": "object"},
//!                "mimetype": null}],
//!  "RPC":      [{"name": "add", "description": "..", "params": ["a", "b"], "defaults": {}}],
//!  "ASYNCRPC": [{"name": "slow", "description": "..", "params": ["x"], "defaults": {},
//!                "suggested_wait": 5}]}
//! ```
//!
//! The Python library's keys come first, in its order; ours follow (`mimetype`, the result
//! MIME type of a web endpoint; `params` and `defaults`, an RPC's signature; `suggested_wait`).
//! The Python client ignores keys it does not know, and [`Discovery::from_json`] accepts
//! documents without ours, as the Python server sends them.

use serde_json::{Map, Value};

/// The description shown for an endpoint registered without one (the Python library's text).
pub const NO_DESCRIPTION: &str = "No description provided";

/// A web (`GET` or `POST`) endpoint's entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebEntry {
    /// The endpoint name (the path without its leading `/`).
    pub name: String,
    /// Shown by the Python client as the method's `help()` text.
    pub description: String,
    /// Query parameter names the endpoint documents.
    pub query_params: Vec<String>,
    /// POST only: the MIME type the endpoint expects as payload.
    pub payload_mimetype: Option<String>,
    /// POST only: a JSON schema of the payload.
    pub payload_schema: Option<Value>,
    /// Ours: the MIME type of the result, when registered.
    pub mimetype: Option<String>,
}

/// An RPC or async RPC endpoint's entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RpcEntry {
    /// The endpoint name.
    pub name: String,
    /// Shown by the Python client as the method's `help()` text.
    pub description: String,
    /// Ours: parameter names in positional order.
    pub params: Vec<String>,
    /// Ours: default values of the parameters that have one, as JSON.
    pub defaults: Vec<(String, Value)>,
    /// Ours, async RPC only: seconds a client should wait between polls.
    pub suggested_wait: Option<f64>,
}

/// The whole `GET /` document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Discovery {
    /// `GET` endpoints.
    pub get: Vec<WebEntry>,
    /// `POST` endpoints.
    pub post: Vec<WebEntry>,
    /// Synchronous RPC endpoints.
    pub rpc: Vec<RpcEntry>,
    /// Asynchronous RPC endpoints.
    pub async_rpc: Vec<RpcEntry>,
}

/// Why a document is not a discovery document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a discovery document: {0}")]
pub struct DiscoveryError(pub String);

/// A number of seconds as JSON, written as the Python library writes its default
/// (`5`, not `5.0`) when it is whole.
pub fn seconds_json(secs: f64) -> Value {
    if secs.fract() == 0.0 && secs.abs() < 9.0e15 {
        Value::from(secs as i64)
    } else {
        serde_json::Number::from_f64(secs)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn description(d: &str) -> Value {
    // As the Python library: an empty description counts as none.
    Value::from(if d.is_empty() { NO_DESCRIPTION } else { d })
}

fn strings(v: &[String]) -> Value {
    v.iter().map(|s| Value::from(s.as_str())).collect()
}

fn opt_string(v: &Option<String>) -> Value {
    v.as_deref().map_or(Value::Null, Value::from)
}

impl WebEntry {
    fn to_json(&self, post: bool) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.as_str()));
        m.insert("description".into(), description(&self.description));
        m.insert("query_params".into(), strings(&self.query_params));
        if post {
            m.insert(
                "payload_mimetype".into(),
                opt_string(&self.payload_mimetype),
            );
            m.insert(
                "payload_schema".into(),
                self.payload_schema.clone().unwrap_or(Value::Null),
            );
        }
        m.insert("mimetype".into(), opt_string(&self.mimetype));
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<WebEntry, DiscoveryError> {
        let m = v
            .as_object()
            .ok_or_else(|| DiscoveryError("entry is not an object".into()))?;
        Ok(WebEntry {
            name: name_of(m)?,
            description: description_of(m),
            query_params: string_list(m.get("query_params")),
            payload_mimetype: m
                .get("payload_mimetype")
                .and_then(Value::as_str)
                .map(str::to_owned),
            payload_schema: m.get("payload_schema").filter(|v| !v.is_null()).cloned(),
            mimetype: m.get("mimetype").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

impl RpcEntry {
    fn to_json(&self, asynchronous: bool) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.as_str()));
        m.insert("description".into(), description(&self.description));
        m.insert("params".into(), strings(&self.params));
        m.insert(
            "defaults".into(),
            Value::Object(self.defaults.iter().cloned().collect()),
        );
        if asynchronous {
            m.insert(
                "suggested_wait".into(),
                seconds_json(self.suggested_wait.unwrap_or(5.0)),
            );
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<RpcEntry, DiscoveryError> {
        let m = v
            .as_object()
            .ok_or_else(|| DiscoveryError("entry is not an object".into()))?;
        Ok(RpcEntry {
            name: name_of(m)?,
            description: description_of(m),
            params: string_list(m.get("params")),
            defaults: m
                .get("defaults")
                .and_then(Value::as_object)
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            suggested_wait: m.get("suggested_wait").and_then(Value::as_f64),
        })
    }
}

fn name_of(m: &Map<String, Value>) -> Result<String, DiscoveryError> {
    m.get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| DiscoveryError("entry without a string \"name\"".into()))
}

fn description_of(m: &Map<String, Value>) -> String {
    m.get("description")
        .and_then(Value::as_str)
        .unwrap_or(NO_DESCRIPTION)
        .to_owned()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn section<'a>(doc: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], DiscoveryError> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(DiscoveryError(format!("\"{key}\" is not a list"))),
    }
}

impl Discovery {
    /// The document as JSON, sections in the Python library's order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "GET".into(),
            self.get.iter().map(|e| e.to_json(false)).collect(),
        );
        m.insert(
            "POST".into(),
            self.post.iter().map(|e| e.to_json(true)).collect(),
        );
        m.insert(
            "RPC".into(),
            self.rpc.iter().map(|e| e.to_json(false)).collect(),
        );
        m.insert(
            "ASYNCRPC".into(),
            self.async_rpc.iter().map(|e| e.to_json(true)).collect(),
        );
        Value::Object(m)
    }

    /// Reads a document (the `result` of the `GET /` envelope), ours or the Python server's.
    /// Missing sections are empty; missing keys take the Python library's defaults.
    pub fn from_json(v: &Value) -> Result<Discovery, DiscoveryError> {
        let doc = v
            .as_object()
            .ok_or_else(|| DiscoveryError("document is not an object".into()))?;
        let web = |key| {
            section(doc, key)?
                .iter()
                .map(WebEntry::from_json)
                .collect::<Result<Vec<_>, _>>()
        };
        let rpc = |key| {
            section(doc, key)?
                .iter()
                .map(RpcEntry::from_json)
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Discovery {
            get: web("GET")?,
            post: web("POST")?,
            rpc: rpc("RPC")?,
            async_rpc: rpc("ASYNCRPC")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Discovery {
        Discovery {
            get: vec![WebEntry {
                name: "echo".into(),
                description: "Echo params and body.".into(),
                query_params: vec!["a".into(), "b".into()],
                ..WebEntry::default()
            }],
            post: vec![WebEntry {
                name: "pecho".into(),
                payload_mimetype: Some("application/json".into()),
                payload_schema: Some(json!({"type": "object"})),
                mimetype: Some("application/json".into()),
                ..WebEntry::default()
            }],
            rpc: vec![RpcEntry {
                name: "add".into(),
                description: "Add two numbers.".into(),
                params: vec!["a".into(), "b".into()],
                ..RpcEntry::default()
            }],
            async_rpc: vec![RpcEntry {
                name: "slow".into(),
                params: vec!["x".into(), "scale".into()],
                defaults: vec![("scale".into(), json!(1.5))],
                suggested_wait: Some(2.5),
                ..RpcEntry::default()
            }],
        }
    }

    #[test]
    fn document_has_python_keys_then_ours_in_order() {
        let text = crate::wire::envelope::to_python_json(&sample().to_json()).unwrap();
        let expected = concat!(
            r#"{"GET": [{"name": "echo", "description": "Echo params and body.", "query_params": ["a", "b"], "mimetype": null}], "#,
            r#""POST": [{"name": "pecho", "description": "No description provided", "query_params": [], "payload_mimetype": "application/json", "payload_schema": {"type": "object"}, "mimetype": "application/json"}], "#,
            r#""RPC": [{"name": "add", "description": "Add two numbers.", "params": ["a", "b"], "defaults": {}}], "#,
            r#""ASYNCRPC": [{"name": "slow", "description": "No description provided", "params": ["x", "scale"], "defaults": {"scale": 1.5}, "suggested_wait": 2.5}]}"#
        );
        assert_eq!(std::str::from_utf8(&text).unwrap(), expected);
    }

    #[test]
    fn round_trips_and_reads_python_documents() {
        let mut d = sample();
        d.post[0].description = NO_DESCRIPTION.into();
        d.async_rpc[0].description = NO_DESCRIPTION.into();
        assert_eq!(Discovery::from_json(&d.to_json()).unwrap(), d);

        let python = json!({"GET": [], "POST": [{"name": "p", "description": "d", "query_params": [],
                             "payload_mimetype": null, "payload_schema": null}],
                            "RPC": [{"name": "add", "description": "Add"}], "ASYNCRPC": []});
        let d = Discovery::from_json(&python).unwrap();
        assert_eq!(d.post[0].payload_mimetype, None);
        assert_eq!(d.rpc[0].params, Vec::<String>::new());
        assert!(Discovery::from_json(&json!({"GET": {}})).is_err());
        assert!(Discovery::from_json(&json!({"RPC": [{"description": "no name"}]})).is_err());
        assert!(Discovery::from_json(&json!([])).is_err());
    }

    #[test]
    fn whole_seconds_are_integers() {
        assert_eq!(seconds_json(5.0), json!(5));
        assert_eq!(seconds_json(0.5), json!(0.5));
        assert_eq!(seconds_json(f64::NAN), Value::Null);
    }
}
