//! JSON-RPC 1.0 framing: a byte stream carrying JSON values back to back, with no delimiter.
//!
//! A read may hold several messages, or part of one; a [`Framer`] keeps the unfinished tail
//! until the rest arrives. Whitespace between messages is skipped. Anything that cannot begin
//! or continue a JSON value is an error, and the connection is then closed, as
//! `ovsdb-server` does: after garbage there is no telling where the next message starts.

use serde_json::Value;

/// Why a byte stream stopped being JSON.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    /// The bytes are not JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// One message grew beyond the limit without ending.
    #[error("message longer than {0} bytes")]
    TooLong(usize),
}

/// The longest message accepted; a client cannot make the server buffer without end.
pub const MAX_MESSAGE: usize = 64 << 20;

/// Splits a byte stream into JSON values.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    /// A framer with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes and returns every message they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Value>, FramingError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut used = 0;
        {
            let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            loop {
                match stream.next() {
                    Some(Ok(v)) => {
                        used = stream.byte_offset();
                        out.push(v);
                    }
                    // The value is not finished yet: keep its bytes for the next read.
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(e)) => return Err(FramingError::Malformed(e.to_string())),
                    None => {
                        used = self.buf.len();
                        break;
                    }
                }
            }
        }
        self.buf.drain(..used);
        if self.buf.len() > MAX_MESSAGE {
            return Err(FramingError::TooLong(MAX_MESSAGE));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn several_messages_in_one_read() {
        let mut f = Framer::new();
        let got = f.push(br#"{"a":1} {"b":2}[3]"#).expect("valid");
        assert_eq!(got, vec![json!({"a": 1}), json!({"b": 2}), json!([3])]);
    }

    #[test]
    fn one_message_across_reads() {
        let mut f = Framer::new();
        let text = br#"{"method":"echo","params":["x"],"id":7}"#;
        let mut got = Vec::new();
        for chunk in text.chunks(3) {
            got.extend(f.push(chunk).expect("valid so far"));
        }
        assert_eq!(
            got,
            vec![json!({"method": "echo", "params": ["x"], "id": 7})]
        );
    }

    #[test]
    fn a_number_at_the_end_waits_for_its_delimiter() {
        // "12" might continue as "123": OVSDB messages are objects, so this only matters for
        // the framer's own consistency, but it must not lose bytes.
        let mut f = Framer::new();
        let first = f.push(b"{\"n\":1}").expect("valid");
        assert_eq!(first, vec![json!({"n": 1})]);
        assert!(f.push(b"  \n").expect("whitespace").is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut f = Framer::new();
        assert!(f.push(b"{\"a\":1} xyz").is_err());
        let mut f = Framer::new();
        assert!(f.push(b"}").is_err());
    }
}
