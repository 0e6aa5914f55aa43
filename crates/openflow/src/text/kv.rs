//! The `key=value` / `key:value` / `key(value)` splitter shared by flow, action and learn text.
//!
//! ovs-ofctl splits every comma list the same way: skip delimiters (comma and white space),
//! read a key up to `:`, `=`, `(`, a comma or white space; then a value that runs to the next
//! comma or white space (after `:` / `=`) or to the matching `)` (after `(`), where any
//! parenthesised group inside the value is skipped whole. Keeping this one routine means
//! nested action lists (`clone(ct(exec(...)))`) split exactly as ovs-ofctl splits them.

/// Iterates over the `(key, value)` pairs of a comma list. A bare key has an empty value.
pub(crate) struct KeyValues<'a> {
    rest: &'a str,
}

impl<'a> KeyValues<'a> {
    /// Splits `s`.
    pub(crate) fn new(s: &'a str) -> Self {
        Self { rest: s }
    }
}

impl<'a> KeyValues<'a> {
    /// If the input continues with `->X` (as after `check_pkt_larger(N)`), consumes it and
    /// returns `X`, which runs to the next comma or white space.
    pub(crate) fn take_arrow_suffix(&mut self) -> Option<&'a str> {
        let rest = self.rest.strip_prefix("->")?;
        let n = rest
            .bytes()
            .position(|b| PAIR_DELIMS.contains(&b))
            .unwrap_or(rest.len());
        self.rest = &rest[n..];
        Some(&rest[..n])
    }
}

const PAIR_DELIMS: &[u8] = b", \t\r\n";

impl<'a> Iterator for KeyValues<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self
            .rest
            .trim_start_matches(|c: char| PAIR_DELIMS.contains(&(c as u8)) && c.is_ascii());
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let bytes = s.as_bytes();
        let key_len = bytes
            .iter()
            .position(|b| b":=(, \t\r\n".contains(b))
            .unwrap_or(bytes.len());
        let key = &s[..key_len];
        let Some(&delim) = bytes.get(key_len) else {
            self.rest = "";
            return Some((key, ""));
        };
        let after = &s[key_len + 1..];
        let value_delims: &[u8] = match delim {
            b':' | b'=' => PAIR_DELIMS,
            b'(' => b")",
            _ => {
                self.rest = after;
                return Some((key, ""));
            }
        };
        let value_len = value_extent(after, value_delims);
        let value = &after[..value_len];
        // Step over the delimiter that ended the value, if any.
        let skip = if value_len < after.len() { 1 } else { 0 };
        self.rest = &after[value_len + skip..];
        Some((key, value))
    }
}

/// Length of the value at the start of `s`: up to the first byte in `delims` that is not
/// inside a parenthesised group (an unclosed group runs to the end).
fn value_extent(s: &str, delims: &[u8]) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    while n < b.len() && !delims.contains(&b[n]) {
        if b[n] == b'(' {
            let mut level = 0usize;
            loop {
                match b.get(n) {
                    None => return n,
                    Some(b'(') => level += 1,
                    Some(b')') => level -= 1,
                    Some(_) => {}
                }
                n += 1;
                if level == 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<(&str, &str)> {
        KeyValues::new(s).collect()
    }

    #[test]
    fn splits_the_three_value_forms_and_bare_keys() {
        assert_eq!(
            split("output:1, resubmit(,22),strip_vlan mod_vlan_vid=3"),
            vec![
                ("output", "1"),
                ("resubmit", ",22"),
                ("strip_vlan", ""),
                ("mod_vlan_vid", "3")
            ]
        );
    }

    #[test]
    fn nested_parentheses_stay_in_one_value() {
        assert_eq!(
            split("ct(commit,exec(set_field:1->ct_mark)),output:2"),
            vec![("ct", "commit,exec(set_field:1->ct_mark)"), ("output", "2")]
        );
        assert_eq!(split("load:f(x,y)->z"), vec![("load", "f(x,y)->z")]);
    }
}
