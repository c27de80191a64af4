//! Printers for [`localsa_core::wire::Describe`] walks: aligned text for people, JSON for programs.

use localsa_core::wire::{Value, Visitor};
use serde_json::{Map, Value as Json};

/// Formats one field value as text.
pub fn value_text(value: &Value<'_>) -> String {
    match *value {
        Value::Uint(v) => v.to_string(),
        Value::Hex { value, bits } => format!("0x{value:0width$x}", width = (bits as usize).div_ceil(4)),
        Value::Bool(b) => u8::from(b).to_string(),
        Value::Gid(g) => g.to_string(),
        Value::Code { raw, name: Some(name) } => format!("{raw} ({name})"),
        Value::Code { raw, name: None } => format!("{raw} (unknown)"),
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "),
        Value::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
    }
}

/// Formats one field value as JSON. Hex-shown numbers become strings (`"0x..."`) so 64-bit keys
/// survive JavaScript-style parsers; coded values become `{"value": n, "name": "..."}`.
pub fn value_json(value: &Value<'_>) -> Json {
    match *value {
        Value::Uint(v) => Json::from(v),
        Value::Hex { .. } | Value::Bytes(_) => Json::from(value_text(value)),
        Value::Bool(b) => Json::from(b),
        Value::Gid(g) => Json::from(g.to_string()),
        Value::Code { raw, name } => {
            let mut m = Map::new();
            m.insert("value".into(), Json::from(raw));
            m.insert("name".into(), name.map(Json::from).unwrap_or(Json::Null));
            Json::Object(m)
        }
        Value::Text(t) => Json::from(String::from_utf8_lossy(t).into_owned()),
    }
}

/// Indented `name  value` lines.
#[derive(Debug, Default)]
pub struct TextPrinter {
    out: String,
    depth: usize,
}

impl TextPrinter {
    /// The text so far.
    pub fn finish(self) -> String {
        self.out
    }
}

impl Visitor for TextPrinter {
    fn field(&mut self, name: &'static str, value: Value<'_>) {
        let indent = "  ".repeat(self.depth);
        let width = 34usize.saturating_sub(indent.len());
        self.out.push_str(&format!("{indent}{name:<width$} {}\n", value_text(&value)));
    }

    fn begin(&mut self, name: &'static str) {
        self.out.push_str(&format!("{}{name}:\n", "  ".repeat(self.depth)));
        self.depth += 1;
    }

    fn end(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Builds a JSON object. A key seen twice at one level becomes an array; groups named
/// `records` are always arrays, so consumers need not special-case a single record.
#[derive(Debug)]
pub struct JsonPrinter {
    stack: Vec<(&'static str, Map<String, Json>)>,
}

impl Default for JsonPrinter {
    fn default() -> Self {
        JsonPrinter { stack: vec![("", Map::new())] }
    }
}

impl JsonPrinter {
    /// The object built so far (open groups are closed).
    pub fn finish(mut self) -> Json {
        while self.stack.len() > 1 {
            self.end();
        }
        Json::Object(self.stack.pop().map(|(_, m)| m).unwrap_or_default())
    }

    fn insert(&mut self, key: &'static str, value: Json) {
        let Some((_, map)) = self.stack.last_mut() else { return };
        let always_array = key == "records";
        match map.get_mut(key) {
            Some(Json::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
            None if always_array => {
                map.insert(key.into(), Json::Array(vec![value]));
            }
            None => {
                map.insert(key.into(), value);
            }
        }
    }
}

impl Visitor for JsonPrinter {
    fn field(&mut self, name: &'static str, value: Value<'_>) {
        self.insert(name, value_json(&value));
    }

    fn begin(&mut self, name: &'static str) {
        self.stack.push((name, Map::new()));
    }

    fn end(&mut self) {
        if self.stack.len() > 1 {
            if let Some((name, map)) = self.stack.pop() {
                self.insert(name, Json::Object(map));
            }
        }
    }
}
