//! The subset of AMF0 that FLV metadata and RTMP commands use.

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
const OBJECT_END: [u8; 3] = [0x00, 0x00, 0x09];

impl Amf0 {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Amf0::Number(n) => {
                out.push(NUMBER);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Amf0::Boolean(b) => out.extend_from_slice(&[BOOLEAN, *b as u8]),
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

fn write_utf8(out: &mut Vec<u8>, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
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
}
