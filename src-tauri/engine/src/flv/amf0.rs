//! The subset of AMF0 that FLV metadata and RTMP commands use: encoding for
//! what we send, decoding for the command responses servers send back.

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0 {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Amf0)>),
    Null,
    EcmaArray(Vec<(String, Amf0)>),
}

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const ECMA_ARRAY: u8 = 0x08;
const UNDEFINED: u8 = 0x06;
const OBJECT_END_MARKER: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const LONG_STRING: u8 = 0x0c;
const OBJECT_END: [u8; 3] = [0x00, 0x00, 0x09];

/// Why a server's AMF0 could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 value cut short")]
    Truncated,
    #[error("AMF0 type marker {0:#04x} is not supported")]
    UnsupportedMarker(u8),
    #[error("AMF0 values nested more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("an AMF0 array claims {count} items with only {left} bytes left")]
    CountBeyondInput { count: u32, left: usize },
    #[error("more than {MAX_VALUES} AMF0 values in one message")]
    TooManyValues,
}

/// Commands nest two or three levels; a hostile server could nest millions
/// (three bytes a level) and overflow the stack.
const MAX_DEPTH: usize = 32;

/// A server's command holds a few dozen values. Each decoded value costs
/// about 60 bytes however few bytes it took on the wire (a null is one), so
/// without a budget a 256 KiB message of nulls would cost 15 MiB; with it,
/// a decode costs at most this many values plus its strings, which are
/// never longer than three times their bytes (lossy UTF-8).
pub const MAX_VALUES: usize = 4096;

impl Amf0 {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Amf0::Number(n) => {
                out.push(NUMBER);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Amf0::Boolean(b) => out.extend_from_slice(&[BOOLEAN, *b as u8]),
            Amf0::String(s) if s.len() > u16::MAX as usize => {
                out.push(LONG_STRING);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Amf0::String(s) => {
                out.push(STRING);
                write_utf8(out, s);
            }
            Amf0::Object(props) => {
                out.push(OBJECT);
                write_properties(out, props);
            }
            Amf0::Null => out.push(NULL),
            Amf0::EcmaArray(props) => {
                out.push(ECMA_ARRAY);
                out.extend_from_slice(&(props.len() as u32).to_be_bytes());
                write_properties(out, props);
            }
        }
    }
}

impl Amf0 {
    /// The property `name` of an object or ECMA array.
    pub fn get(&self, name: &str) -> Option<&Amf0> {
        match self {
            Amf0::Object(props) | Amf0::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == name).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Amf0::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Decodes every value in `bytes` (an RTMP command is a sequence of them).
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Amf0>, Amf0Error> {
        let mut decoder = Decoder::new(bytes);
        let mut values = Vec::new();
        while !decoder.bytes.is_empty() {
            values.push(decoder.value(0)?);
        }
        Ok(values)
    }

    /// Decodes one value and advances `bytes` past it.
    pub fn decode(bytes: &mut &[u8]) -> Result<Amf0, Amf0Error> {
        let mut decoder = Decoder::new(bytes);
        let value = decoder.value(0)?;
        *bytes = decoder.bytes;
        Ok(value)
    }
}

/// Reads values off untrusted bytes within a depth and a value budget.
struct Decoder<'a> {
    bytes: &'a [u8],
    values_left: usize,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Decoder {
            bytes,
            values_left: MAX_VALUES,
        }
    }

    fn value(&mut self, depth: usize) -> Result<Amf0, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep);
        }
        self.values_left = self
            .values_left
            .checked_sub(1)
            .ok_or(Amf0Error::TooManyValues)?;
        let marker = self.take(1)?[0];
        Ok(match marker {
            NUMBER => Amf0::Number(f64::from_be_bytes(self.take(8)?.try_into().unwrap())),
            BOOLEAN => Amf0::Boolean(self.take(1)?[0] != 0),
            STRING => Amf0::String(self.utf8(2)?),
            LONG_STRING => Amf0::String(self.utf8(4)?),
            OBJECT => Amf0::Object(self.properties(depth)?),
            // Undefined carries no information we act on; Null says the same.
            NULL | UNDEFINED => Amf0::Null,
            ECMA_ARRAY => {
                self.take(4)?; // the count is advisory; the end marker is what counts
                Amf0::EcmaArray(self.properties(depth)?)
            }
            STRICT_ARRAY => {
                let count = u32::from_be_bytes(self.take(4)?.try_into().unwrap());
                // Every item takes at least its marker byte: a count beyond
                // the bytes left is a lie, caught before any work. The vector
                // grows with what is actually read, never from the count.
                if count as usize > self.bytes.len() {
                    return Err(Amf0Error::CountBeyondInput {
                        count,
                        left: self.bytes.len(),
                    });
                }
                let mut items = Vec::new();
                for i in 0..count {
                    items.push((i.to_string(), self.value(depth + 1)?));
                }
                Amf0::EcmaArray(items)
            }
            other => return Err(Amf0Error::UnsupportedMarker(other)),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Amf0Error> {
        take(&mut self.bytes, n)
    }

    fn utf8(&mut self, len_bytes: usize) -> Result<String, Amf0Error> {
        let len = self
            .take(len_bytes)?
            .iter()
            .fold(0usize, |n, b| (n << 8) | *b as usize);
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    /// Properties up to the end marker: each takes at least three bytes (an
    /// empty name and a marker), so their number is bounded by the input.
    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0)>, Amf0Error> {
        let mut props = Vec::new();
        loop {
            let key = self.utf8(2)?;
            if key.is_empty() && self.bytes.first() == Some(&OBJECT_END_MARKER) {
                self.take(1)?;
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], Amf0Error> {
    if bytes.len() < n {
        return Err(Amf0Error::Truncated);
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

/// A short string (property names): cut to 64 KiB, at a character boundary.
fn write_utf8(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn write_properties(out: &mut Vec<u8>, props: &[(String, Amf0)]) {
    for (key, value) in props {
        write_utf8(out, key);
        value.encode(out);
    }
    out.extend_from_slice(&OBJECT_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_shapes_flv_metadata_uses() {
        let mut out = Vec::new();
        Amf0::String("onMetaData".into()).encode(&mut out);
        assert_eq!(&out[..3], &[0x02, 0x00, 0x0a]);
        out.clear();
        Amf0::EcmaArray(vec![
            ("w".into(), Amf0::Number(1.0)),
            ("s".into(), Amf0::Boolean(true)),
        ])
        .encode(&mut out);
        assert_eq!(
            out,
            [
                &[0x08, 0, 0, 0, 2, 0, 1, b'w', 0x00][..],
                &1.0f64.to_be_bytes(),
                &[0, 1, b's', 0x01, 1, 0, 0, 9],
            ]
            .concat()
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let values = vec![
            Amf0::String("_result".into()),
            Amf0::Number(1.0),
            Amf0::Object(vec![
                ("fmsVer".into(), Amf0::String("FMS/3,0,1,123".into())),
                ("capabilities".into(), Amf0::Number(31.0)),
            ]),
            Amf0::Null,
            Amf0::EcmaArray(vec![("ok".into(), Amf0::Boolean(true))]),
        ];
        let mut bytes = Vec::new();
        values.iter().for_each(|v| v.encode(&mut bytes));
        let decoded = Amf0::decode_all(&bytes).unwrap();
        assert_eq!(decoded, values);
        assert_eq!(
            decoded[2].get("fmsVer").and_then(Amf0::as_str),
            Some("FMS/3,0,1,123")
        );
    }

    #[test]
    fn decodes_undefined_strict_arrays_and_long_strings() {
        let bytes = [
            &[
                UNDEFINED,
                STRICT_ARRAY,
                0,
                0,
                0,
                1,
                BOOLEAN,
                1,
                LONG_STRING,
                0,
                0,
                0,
                2,
            ][..],
            b"hi",
        ]
        .concat();
        assert_eq!(
            Amf0::decode_all(&bytes).unwrap(),
            vec![
                Amf0::Null,
                Amf0::EcmaArray(vec![("0".into(), Amf0::Boolean(true))]),
                Amf0::String("hi".into()),
            ]
        );
    }

    #[test]
    fn truncated_and_unknown_input_is_an_error() {
        assert_eq!(Amf0::decode_all(&[NUMBER, 0, 0]), Err(Amf0Error::Truncated));
        assert_eq!(
            Amf0::decode_all(&[STRING, 0, 5, b'a']),
            Err(Amf0Error::Truncated)
        );
        assert_eq!(
            Amf0::decode_all(&[0x11]),
            Err(Amf0Error::UnsupportedMarker(0x11))
        );
    }

    #[test]
    fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
        // An object whose first property is an object, a million levels deep.
        let mut bytes = vec![OBJECT];
        for _ in 0..1_000_000 {
            bytes.extend([0, 1, b'k', OBJECT]);
        }
        assert_eq!(Amf0::decode_all(&bytes), Err(Amf0Error::TooDeep));
    }

    #[test]
    fn strings_over_64_kib_travel_as_long_strings_and_names_are_cut_whole() {
        let long = "é".repeat(40_000);
        let value = Amf0::Object(vec![(long.clone(), Amf0::String(long.clone()))]);
        let mut out = Vec::new();
        value.encode(&mut out);
        let back = Amf0::decode_all(&out).unwrap();
        let Amf0::Object(props) = &back[0] else {
            panic!("{back:?}")
        };
        assert_eq!(props[0].1, Amf0::String(long.clone()));
        assert_eq!(
            props[0].0,
            "é".repeat(32_767),
            "the name ends on a whole character"
        );
    }
}
