//! Strict JSON intake: every request body and every operation is parsed here before any other
//! work, refusing duplicate object keys (which different parsers resolve differently, so a
//! signature could cover a different reading than the one we store) and nesting deeper than a
//! small limit (a cheap way to exhaust a recursive parser).
//!
//! It produces a plain `serde_json::Value`; typed decoding happens afterwards in the owner module.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Deepest nesting of arrays/objects accepted. Operations need 4; 32 leaves room for claims.
pub const MAX_DEPTH: usize = 32;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all, or trailing garbage.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// An object names the same key twice.
    #[error("duplicate key {0:?} in a JSON object")]
    DuplicateKey(String),
    /// Arrays/objects nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Parses `bytes` as one JSON value under the rules above.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed { depth: 0 }
        .deserialize(&mut deserializer)
        .map_err(classify)?;
    deserializer
        .end()
        .map_err(|e| JsonError::Syntax(e.to_string()))?;
    Ok(value)
}

// Our own failures travel through serde as custom messages with a marker prefix, so that they
// can be told apart from syntax errors afterwards.
const DUP: &str = "\u{1}dup:";
const DEEP: &str = "\u{1}deep";

fn classify(error: serde_json::Error) -> JsonError {
    let message = error.to_string();
    if let Some(rest) = message.strip_prefix(DUP) {
        // serde_json appends " at line L column C"; the key is everything before that.
        let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
        JsonError::DuplicateKey(key.to_owned())
    } else if message.starts_with(DEEP) || message.starts_with("recursion limit exceeded") {
        JsonError::TooDeep
    } else {
        JsonError::Syntax(message)
    }
}

/// The key under which serde_json (`arbitrary_precision`) hands a number to a visitor.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

struct StrictSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor { depth: self.depth })
    }
}

struct StrictVisitor {
    depth: usize,
}

impl StrictVisitor {
    fn child<E: de::Error>(&self) -> Result<StrictSeed, E> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(E::custom(DEEP));
        }
        Ok(StrictSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child()?)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // With serde_json's `arbitrary_precision` feature (which `ssi` turns on for the
            // whole build), a number reaches a visitor as a one-entry map under this token,
            // holding the number's text. serde_json's own `Value` reads it back the same way.
            if object.is_empty() && key == NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return text
                    .parse::<serde_json::Number>()
                    .map(Value::Number)
                    .map_err(|e| de::Error::custom(format_args!("number {text:?}: {e}")));
            }
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("{DUP}{key}")));
            }
            let value = map.next_value_seed(self.child()?)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decimal numbers stay numbers (they came back as `{"$serde_json::private::Number": ..}`
    /// objects once `ssi` turned on serde_json's `arbitrary_precision` in the build), equal to
    /// what serde_json itself reads; the strict rules still hold around them.
    #[test]
    fn numbers_parse_as_numbers() {
        for text in [
            r#"{"a": 2.75}"#,
            r#"{"a": -0.5, "b": [1, 2.5e3, 18446744073709551615]}"#,
            r#"{"minimum": 0.5, "nested": {"x": 1e-7}}"#,
            "[0.1, 0.2]",
            "2.5",
        ] {
            let strict = parse_strict(text.as_bytes()).unwrap();
            let plain: Value = serde_json::from_str(text).unwrap();
            assert_eq!(strict, plain, "{text}");
            assert!(
                !strict.to_string().contains("serde_json::private"),
                "{text}"
            );
        }
        assert_eq!(
            parse_strict(br#"{"a": 2.75}"#).unwrap()["a"].as_f64(),
            Some(2.75)
        );
        assert!(
            parse_strict(br#"{"a": 1.5, "a": 2.5}"#).is_err(),
            "duplicates still refused"
        );
    }
}
