//! A small reader for `ovs-ofctl` flow text, enough for the Neutron br-tun program.
//!
//! TODO(a4): a local stand-in until `fvs_openflow::parse_flow_mod` lands; it reads the match
//! fields and actions the seed uses (and ignores `dump-flows` statistics such as `duration=`,
//! so dumped flows load verbatim). Replace its callers with the real parser.

use crate::action::{Action, Learn, LearnSpec, LearnSrc, Subfield};
use crate::bridge::FlowMod;
use crate::dpif::Mac;
use crate::port::OfPort;
use crate::rule::DEFAULT_PRIORITY;
use fvs_flow::{Field, FlowKey};

/// Why a flow did not parse; the text names the bad token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A keyword this reader does not know.
    #[error("unknown keyword {0}")]
    UnknownKeyword(String),
    /// A value that does not parse for its field.
    #[error("{field}: bad value {value}")]
    BadValue {
        /// Field or action name.
        field: String,
        /// The value.
        value: String,
    },
    /// An action this reader does not know.
    #[error("unknown action {0}")]
    UnknownAction(String),
}

fn bad(field: &str, value: &str) -> ParseError {
    ParseError::BadValue {
        field: field.to_owned(),
        value: value.to_owned(),
    }
}

fn num(field: &str, s: &str) -> Result<u128, ParseError> {
    let r = if let Some(h) = s.strip_prefix("0x") {
        u128::from_str_radix(h, 16)
    } else {
        s.parse()
    };
    r.map_err(|_| bad(field, s))
}

fn mac(field: &str, s: &str) -> Result<u128, ParseError> {
    let mut v: u128 = 0;
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(bad(field, s));
    }
    for p in parts {
        v = (v << 8) | u128::from(u8::from_str_radix(p, 16).map_err(|_| bad(field, s))?);
    }
    Ok(v)
}

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Parses `NAME[]`, `NAME[a..b]` or `NAME[a]`.
pub fn parse_subfield(s: &str) -> Result<Subfield, ParseError> {
    let (name, rest) = s.split_once('[').ok_or_else(|| bad("subfield", s))?;
    let field = Field::from_nxm_name(name)
        .or_else(|| Field::from_name(name))
        .ok_or_else(|| bad("subfield", s))?;
    let range = rest.strip_suffix(']').ok_or_else(|| bad("subfield", s))?;
    if range.is_empty() {
        return Ok(Subfield::whole(field));
    }
    let (a, b) = range.split_once("..").unwrap_or((range, range));
    let a: u8 = a.parse().map_err(|_| bad("subfield", s))?;
    let b: u8 = b.parse().map_err(|_| bad("subfield", s))?;
    if b < a || b >= crate::action::nxm_width(field) {
        return Err(bad("subfield", s));
    }
    Ok(Subfield {
        field,
        ofs: a,
        n_bits: b - a + 1,
    })
}

/// Parses one flow in `ovs-ofctl add-flow` syntax (statistics from `dump-flows` are ignored).
pub fn parse_flow(text: &str) -> Result<FlowMod, ParseError> {
    let (head, acts) = match text.split_once("actions=") {
        Some((h, a)) => (h, a),
        None => (text, ""),
    };
    let mut key = FlowKey::ZERO;
    let mut mask = FlowKey::ZERO;
    let mut fm = FlowMod::add(
        0,
        FlowKey::ZERO,
        FlowKey::ZERO,
        DEFAULT_PRIORITY,
        Vec::new(),
    );
    let mut set = |f: Field, v: u128, m: u128| {
        key.set(f.loc(), v);
        mask.set(f.loc(), m);
    };
    for tok in head
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
        let (val, msk) = match v.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (v, None),
        };
        match k {
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            "cookie" => fm.cookie = u64::try_from(num(k, val)?).map_err(|_| bad(k, v))?,
            "table" => fm.table = u8::try_from(num(k, val)?).map_err(|_| bad(k, v))?,
            "priority" => fm.priority = u16::try_from(num(k, val)?).map_err(|_| bad(k, v))?,
            "idle_timeout" => {
                fm.idle_timeout = u16::try_from(num(k, val)?).map_err(|_| bad(k, v))?;
            }
            "hard_timeout" => {
                fm.hard_timeout = u16::try_from(num(k, val)?).map_err(|_| bad(k, v))?;
            }
            "in_port" => {
                let p = if val == "LOCAL" { 0xfffe } else { num(k, val)? };
                set(Field::InPort, p, u128::MAX);
            }
            "dl_src" | "eth_src" | "dl_dst" | "eth_dst" => {
                let f = if k.ends_with("src") {
                    Field::EthSrc
                } else {
                    Field::EthDst
                };
                let m = msk.map_or(Ok(u128::MAX), |m| mac(k, m))?;
                set(f, mac(k, val)?, m);
            }
            "dl_vlan" => {
                let vid = num(k, val)?;
                if vid == 0xffff {
                    set(Field::VlanTci, 0, 0xffff);
                } else {
                    set(Field::VlanTci, 0x1000 | (vid & 0xfff), 0x1fff);
                }
            }
            "vlan_tci" => {
                let m = msk.map_or(Ok(0xffff), |m| num(k, m))?;
                set(Field::VlanTci, num(k, val)?, m);
            }
            "tun_id" | "tunnel_id" => {
                let m = msk.map_or(Ok(u128::MAX), |m| num(k, m))?;
                set(Field::TunId, num(k, val)?, m);
            }
            "dl_type" | "eth_type" => set(Field::EthType, num(k, val)?, u128::MAX),
            "ip" => set(Field::EthType, 0x0800, u128::MAX),
            "arp" => set(Field::EthType, 0x0806, u128::MAX),
            "metadata" => {
                let m = msk.map_or(Ok(u128::MAX), |m| num(k, m))?;
                set(Field::Metadata, num(k, val)?, m);
            }
            other => {
                let f = Field::from_name(other)
                    .ok_or_else(|| ParseError::UnknownKeyword(other.to_owned()))?;
                let m = msk.map_or(Ok(u128::MAX), |m| num(k, m))?;
                set(f, num(k, val)?, m);
            }
        }
    }
    fm.key = key.and(&mask);
    fm.mask = mask;
    fm.actions = parse_actions(acts.trim())?;
    Ok(fm)
}

/// Parses an action list (`drop` is the empty list).
pub fn parse_actions(text: &str) -> Result<Vec<Action>, ParseError> {
    let mut out = Vec::new();
    for a in split_top(text) {
        let (name, arg) = match a.split_once([':', '(']) {
            Some((n, r)) => (n, r.strip_suffix(')').unwrap_or(r)),
            None => (a, ""),
        };
        let u = |s: &str| num(name, s);
        let action = match name.to_ascii_lowercase().as_str() {
            "drop" => continue,
            "normal" => Action::Output {
                port: OfPort::NORMAL,
                max_len: 0,
            },
            "flood" => Action::Output {
                port: OfPort::FLOOD,
                max_len: 0,
            },
            "in_port" => Action::Output {
                port: OfPort::IN_PORT,
                max_len: 0,
            },
            "local" => Action::Output {
                port: OfPort::LOCAL,
                max_len: 0,
            },
            "controller" => Action::Output {
                port: OfPort::CONTROLLER,
                max_len: if arg.is_empty() {
                    65535
                } else {
                    u16::try_from(u(arg)?).map_err(|_| bad(name, arg))?
                },
            },
            "output" => Action::Output {
                port: OfPort(u32::try_from(u(arg)?).map_err(|_| bad(name, arg))?),
                max_len: 0,
            },
            "resubmit" => {
                let (p, t) = arg.split_once(',').unwrap_or((arg, ""));
                Action::Resubmit {
                    port: if p.is_empty() {
                        None
                    } else {
                        Some(OfPort(u32::try_from(u(p)?).map_err(|_| bad(name, arg))?))
                    },
                    table: if t.is_empty() {
                        None
                    } else {
                        Some(u8::try_from(u(t)?).map_err(|_| bad(name, arg))?)
                    },
                }
            }
            "goto_table" => Action::GotoTable(u8::try_from(u(arg)?).map_err(|_| bad(name, arg))?),
            "mod_vlan_vid" => {
                Action::SetVlanVid(u16::try_from(u(arg)?).map_err(|_| bad(name, arg))?)
            }
            "mod_vlan_pcp" => {
                Action::SetVlanPcp(u8::try_from(u(arg)?).map_err(|_| bad(name, arg))?)
            }
            "strip_vlan" => Action::StripVlan,
            "pop_vlan" => Action::PopVlan,
            "push_vlan" => Action::PushVlan(u16::try_from(u(arg)?).map_err(|_| bad(name, arg))?),
            "mod_dl_src" | "mod_dl_dst" => {
                let m = Mac::from_u64(u64::try_from(mac(name, arg)?).map_err(|_| bad(name, arg))?);
                if name.ends_with("src") {
                    Action::SetEthSrc(m)
                } else {
                    Action::SetEthDst(m)
                }
            }
            "set_tunnel" | "set_tunnel64" => {
                Action::SetTunnel(u64::try_from(u(arg)?).map_err(|_| bad(name, arg))?)
            }
            "load" => {
                let (v, dst) = arg.split_once("->").ok_or_else(|| bad(name, arg))?;
                Action::Load {
                    dst: parse_subfield(dst)?,
                    value: u(v)?,
                }
            }
            "move" => {
                let (s, d) = arg.split_once("->").ok_or_else(|| bad(name, arg))?;
                Action::Move {
                    src: parse_subfield(s)?,
                    dst: parse_subfield(d)?,
                }
            }
            "learn" => Action::Learn(parse_learn(arg)?),
            other => return Err(ParseError::UnknownAction(other.to_owned())),
        };
        out.push(action);
    }
    Ok(out)
}

fn parse_learn(arg: &str) -> Result<Learn, ParseError> {
    let mut l = Learn {
        table: 1,
        priority: DEFAULT_PRIORITY,
        idle_timeout: 0,
        hard_timeout: 0,
        cookie: 0,
        specs: Vec::new(),
    };
    for part in split_top(arg) {
        let small = |s: &str| num("learn", s);
        if let Some(rest) = part.strip_prefix("load:") {
            let (src, dst) = rest.split_once("->").ok_or_else(|| bad("learn", part))?;
            let src = if src.contains('[') {
                LearnSrc::Field(parse_subfield(src)?)
            } else {
                LearnSrc::Imm(small(src)?)
            };
            l.specs.push(LearnSpec::Load {
                dst: parse_subfield(dst)?,
                src,
            });
            continue;
        }
        if let Some(rest) = part.strip_prefix("output:") {
            l.specs.push(LearnSpec::Output {
                src: parse_subfield(rest)?,
            });
            continue;
        }
        match part.split_once('=') {
            Some(("table", v)) => l.table = u8::try_from(small(v)?).map_err(|_| bad("table", v))?,
            Some(("priority", v)) => {
                l.priority = u16::try_from(small(v)?).map_err(|_| bad("priority", v))?;
            }
            Some(("idle_timeout", v)) => {
                l.idle_timeout = u16::try_from(small(v)?).map_err(|_| bad("idle_timeout", v))?;
            }
            Some(("hard_timeout", v)) => {
                l.hard_timeout = u16::try_from(small(v)?).map_err(|_| bad("hard_timeout", v))?;
            }
            Some(("cookie", v)) => {
                l.cookie = u64::try_from(small(v)?).map_err(|_| bad("cookie", v))?;
            }
            Some((dst, src)) => {
                let dst = parse_subfield(dst)?;
                let src = if src.contains('[') {
                    LearnSrc::Field(parse_subfield(src)?)
                } else {
                    LearnSrc::Imm(small(src)?)
                };
                l.specs.push(LearnSpec::Match { dst, src });
            }
            None => {
                let sf = parse_subfield(part)?;
                l.specs.push(LearnSpec::Match {
                    dst: sf,
                    src: LearnSrc::Field(sf),
                });
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::format_actions;

    #[test]
    fn the_seed_learn_action_reads_back_as_written() {
        let text = "learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1";
        let acts = parse_actions(text).unwrap_or_default();
        assert_eq!(format_actions(&acts), text);
    }

    #[test]
    fn bad_tokens_are_named() {
        assert_eq!(
            parse_flow("frobnicate=1 actions=drop").err(),
            Some(ParseError::UnknownKeyword("frobnicate".into()))
        );
        assert_eq!(
            parse_actions("explode:3").err(),
            Some(ParseError::UnknownAction("explode".into()))
        );
    }
}
