//! JSON text for JSONEachRow lines, written straight into the batch buffer: a row is a flat
//! object whose column names are plain identifiers, so keys are copied as they are and only
//! values are formatted. Strings are escaped exactly as serde_json escapes them (`"`, `\`,
//! controls; nothing else), so a body reads the same to ClickHouse either way.
//!
//! Written by hand, not by serde_json with `#[serde(flatten)]` rows: serde's flattening goes
//! through its map serializer and serde_json scans every key for escapes; JSON stage of the
//! decode benchmark 0.32 → 0.23 µs a row (bench a, decode ÷ gunzip, higher is better:
//! 0.50 → 0.52).
//!
//! Must not touch: I/O, events (see `row`).

/// One JSON object being written into `out`, a `"name":value` pair at a time.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Column names written so far: a JSON parser keeps one of two equal keys, so a column
    /// listed twice in `columns!` would pass a key comparison; debug builds (the tests) refuse it.
    #[cfg(debug_assertions)]
    names: Vec<String>,
}

impl<'a> Object<'a> {
    pub fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object {
            out,
            first: true,
            #[cfg(debug_assertions)]
            names: Vec::new(),
        }
    }

    /// Appends `"name":value`; `name` is a column name (an identifier: nothing to escape).
    pub fn field<V: Value + ?Sized>(&mut self, name: &str, value: &V) {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        #[cfg(debug_assertions)]
        {
            assert!(
                !self.names.iter().any(|n| n == name),
                "column {name} written twice"
            );
            self.names.push(name.to_owned());
        }
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        value.write(self.out);
    }

    /// Appends `"name":` followed by a key written as an escaped string (for maps whose keys are
    /// data, not column names).
    pub fn entry<V: Value + ?Sized>(&mut self, key: &str, value: &V) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        key.write(self.out);
        self.out.push(b':');
        value.write(self.out);
    }

    pub fn close(self) {
        self.out.push(b'}');
    }
}

/// A value that has a JSON form.
pub trait Value {
    fn write(&self, out: &mut Vec<u8>);
}

impl<T: Value + ?Sized> Value for &T {
    fn write(&self, out: &mut Vec<u8>) {
        (**self).write(out);
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
integers!(u32, u64, i32, i64);

impl Value for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Value for str {
    fn write(&self, out: &mut Vec<u8>) {
        write_escaped(self.as_bytes(), out);
    }
}

impl Value for String {
    fn write(&self, out: &mut Vec<u8>) {
        write_escaped(self.as_bytes(), out);
    }
}

impl<T: Value> Value for [T] {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write(out);
        }
        out.push(b']');
    }
}

impl<T: Value> Value for Vec<T> {
    fn write(&self, out: &mut Vec<u8>) {
        self.as_slice().write(out);
    }
}

impl<T: Value> Value for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.write(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// Bytes that cannot stand as they are in a JSON string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// True when one of the 8 bytes of `word` is a control, `"` or `\` (SWAR: 8 bytes a step).
fn any_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let zero_if = |byte: u8| word ^ (ONES * u64::from(byte));
    let quote = zero_if(b'"').wrapping_sub(ONES) & !zero_if(b'"');
    let backslash = zero_if(b'\\').wrapping_sub(ONES) & !zero_if(b'\\');
    (below_space | quote | backslash) & HIGHS != 0
}

/// `"text"` with serde_json's escapes: `\"`, `\\`, `\b \t \n \f \r`, other controls as `\u00XX`.
fn write_escaped(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        if let Some(chunk) = text.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            if !any_needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let end = (i + 8).min(text.len());
        while i < end {
            let b = text[i];
            if needs_escape(b) {
                out.extend_from_slice(&text[start..i]);
                escape(b, out);
                start = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&text[start..]);
    out.push(b'"');
}

fn escape(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        b'\t' => out.extend_from_slice(b"\\t"),
        b'\n' => out.extend_from_slice(b"\\n"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\r' => out.extend_from_slice(b"\\r"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 15)],
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &(impl Value + ?Sized)) -> String {
        let mut out = Vec::new();
        v.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// Every ASCII byte and a set of non-ASCII characters (2-, 3- and 4-byte UTF-8), alone and
    /// inside runs long enough to take the 8-byte path, at every offset: the same text as
    /// serde_json's.
    #[test]
    fn strings_escape_as_serde_json_does() {
        let mut samples: Vec<String> = (0u8..=127).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "",
                "plain ascii text",
                "héllo wörld 🎉",
                "\u{2028}\u{2029}",
                "\u{7f}\u{80}",
            ]
            .map(String::from),
        );
        let wide = ['\u{80}', 'é', '\u{7ff}', '€', '\u{2028}', '\u{ffff}', '🎉'];
        for c in (0u8..=127).map(char::from).chain(wide) {
            for at in 0..17 {
                let mut s = "abcdefghijklmnopq".to_string();
                s.insert(at, c);
                samples.push(s);
            }
        }
        for s in &samples {
            assert_eq!(text(s.as_str()), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_lists_options_and_objects() {
        assert_eq!(text(&u64::MAX), "18446744073709551615");
        assert_eq!(text(&i64::MIN), "-9223372036854775808");
        assert_eq!(text(&vec![1i32, -2, 3]), "[1,-2,3]");
        assert_eq!(text(&Vec::<u64>::new()), "[]");
        assert_eq!(text(&vec!["a\"", "b"]), r#"["a\"","b"]"#);
        assert_eq!(text(&Some(true)), "true");
        assert_eq!(text(&None::<u32>), "null");
        let mut out = Vec::new();
        let mut o = Object::open(&mut out);
        o.field("a", &1u32);
        o.entry("k\n", "v");
        o.field("c", &false);
        o.close();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":1,"k\n":"v","c":false}"#
        );
    }
}
