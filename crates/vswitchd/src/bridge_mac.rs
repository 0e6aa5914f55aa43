//! The Ethernet addresses a bridge's interfaces get, the bridge's own (`LOCAL`) address, and
//! the datapath ID derived from it — Open vSwitch 3.1's rules, as `ovs-vswitchd
//! --enable-dummy=override` shows them (`mac_in_use`, `ovs-ofctl show`, `datapath_id`).
//!
//! - **Dummy devices** count up: `aa:55:` then a 32-bit counter that starts at `aa:55:00:00`
//!   (so `aa:55:aa:55:00:00`, `aa:55:aa:55:00:01`, …). Every dummy device made takes the
//!   next number — ordinary, internal and tunnel interfaces alike, and an interface deleted
//!   and added again takes a fresh one. The first bridge's datapath takes fourteen of its
//!   own, and each bridge's own interface takes one (its address is then replaced, below).
//!   Within one pass the new interfaces with an `ofport_request` come first, then the
//!   others with the bridge's own among them — so the first port of the first bridge is
//!   `aa:55:aa:55:00:0f` (`…:0e` when it requests its number). Among those without a
//!   request ferrovs takes the bridge's own first, then the others by name; Open vSwitch
//!   takes its hash table's order, which no one can rely on (one port per transaction is
//!   the same on both). Patch ports have no device: a random locally administered address.
//! - **The bridge's address** is `other_config:hwaddr` when that is six groups of one or two
//!   hex digits naming a unicast, non-zero address; else the lowest address among the
//!   bridge's other ports (each represented by its interface with the lowest name) that is
//!   unicast, globally administered and non-zero — real devices' kernel addresses, never
//!   the locally administered dummy ones; else the bridge's own default, made from its
//!   `Bridge` row's UUID ([`from_uuid`]): the same for as long as the row lives, across
//!   restarts of the daemon too, so removing `hwaddr` brings it back and a restarted switch
//!   finds its device's address unchanged. It follows every change of those (`hwaddr` set, changed or removed, a port
//!   with a lower address added or deleted), with real devices too: the bridge's TAP
//!   device takes the new address in place, keeping the addresses and routes the host put
//!   on it, and OpenFlow's `LOCAL` port and the datapath ID follow.
//! - **The datapath ID** is `other_config:datapath-id` when it is exactly 16 hex digits or
//!   `0x`/`0X` and 1 to 16 hex digits, and not zero; else the bridge's address in the low 48
//!   bits.

/// An Ethernet address as six bytes (the reconciler's and the datapath's representation).
pub type Mac = [u8; 6];

/// The counter's value for the first dummy device: its low 32 bits are the address's last
/// four bytes, after `aa:55`.
const DUMMY_FIRST: u32 = 0xaa55_0000;

/// Dummy device numbers the first bridge's datapath takes for devices of its own.
const FIRST_DATAPATH_DEVICES: u32 = 14;

/// Open vSwitch's dummy device address counter.
#[derive(Debug, Clone)]
pub struct DummyMacs {
    next: u32,
    bridges_made: bool,
    /// Bridges made whose own interface has not taken its number yet.
    pending_local: std::collections::BTreeSet<String>,
}

impl Default for DummyMacs {
    fn default() -> Self {
        Self {
            next: DUMMY_FIRST,
            bridges_made: false,
            pending_local: std::collections::BTreeSet::new(),
        }
    }
}

impl DummyMacs {
    /// Bridge `name` was made: the first one's datapath takes its numbers now, its own
    /// interface takes one before the first interface without an `ofport_request`
    /// ([`DummyMacs::take`]) or at the end of the pass ([`DummyMacs::settle`]).
    pub fn bridge_made(&mut self, name: &str) {
        if !self.bridges_made {
            self.bridges_made = true;
            self.next = self.next.wrapping_add(FIRST_DATAPATH_DEVICES);
        }
        self.pending_local.insert(name.to_owned());
    }

    /// The address of the next dummy device, an interface of `bridge` that `requested` its
    /// OpenFlow port number or not.
    pub fn take(&mut self, bridge: &str, requested: bool) -> Mac {
        if !requested {
            self.settle(bridge);
        }
        let [a, b, c, d] = self.next.to_be_bytes();
        self.next = self.next.wrapping_add(1);
        [0xaa, 0x55, a, b, c, d]
    }

    /// Bridge `bridge`'s own interface takes its number if it has not yet.
    pub fn settle(&mut self, bridge: &str) {
        if self.pending_local.remove(bridge) {
            self.next = self.next.wrapping_add(1);
        }
    }
}

/// `xx:xx:xx:xx:xx:xx`, each group one or two hex digits and nothing else.
pub fn parse(text: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut groups = text.split(':');
    for b in &mut out {
        let g = groups.next()?;
        if g.is_empty() || g.len() > 2 || !g.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *b = u8::from_str_radix(g, 16).ok()?;
    }
    groups.next().is_none().then_some(out)
}

/// The usual lower-case text.
pub fn text(m: Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn is_multicast(m: Mac) -> bool {
    m[0] & 0x01 != 0
}

fn is_local(m: Mac) -> bool {
    m[0] & 0x02 != 0
}

/// A random locally administered unicast address, different for each `seed`.
pub fn random(seed: u64) -> Mac {
    let b = seed.to_be_bytes();
    [(b[0] & 0xfe) | 0x02, b[1], b[2], b[3], b[4], b[5]]
}

/// A bridge's default address, from its row's UUID as Open vSwitch makes it: the UUID's
/// first 32-bit group and the high 16 bits of its second (`xxxxxxxx-HHHH-....`), each in
/// little-endian byte order, made unicast and locally administered.
pub fn from_uuid(uuid: uuid::Uuid) -> Mac {
    let b = uuid.as_bytes();
    let first = u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_le_bytes();
    let second = u32::from_be_bytes([b[4], b[5], b[6], b[7]]).to_le_bytes();
    [
        (first[0] & 0xfe) | 0x02,
        first[1],
        first[2],
        first[3],
        second[0],
        second[1],
    ]
}

/// The bridge's own address: `hwaddr` (its `other_config:hwaddr`) if usable, else the lowest
/// usable address of `ports` (one per port other than the bridge's own), else `default`.
pub fn bridge_mac(hwaddr: Option<&str>, ports: impl IntoIterator<Item = Mac>, default: Mac) -> Mac {
    if let Some(m) = hwaddr.and_then(parse)
        && !is_multicast(m)
        && m != [0; 6]
    {
        return m;
    }
    ports
        .into_iter()
        .filter(|m| !is_multicast(*m) && !is_local(*m) && *m != [0; 6])
        .min()
        .unwrap_or(default)
}

/// `other_config:datapath-id` if it is a usable datapath ID.
pub fn parse_datapath_id(text: &str) -> Option<u64> {
    let digits = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(d) if (1..=16).contains(&d.len()) => d,
        Some(_) => return None,
        None if text.len() == 16 => text,
        None => return None,
    };
    if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok().filter(|id| *id != 0)
}

/// The datapath ID of a bridge whose address is `mac`, given its `other_config:datapath-id`.
pub fn datapath_id(configured: Option<&str>, mac: Mac) -> u64 {
    configured
        .and_then(parse_datapath_id)
        .unwrap_or_else(|| mac.iter().fold(0u64, |id, b| (id << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values below are what ovs-vswitchd 3.1 showed for the same inputs.

    #[test]
    fn dummy_addresses_count_from_the_first_bridge() {
        let mut d = DummyMacs::default();
        d.bridge_made("br0");
        assert_eq!(text(d.take("br0", false)), "aa:55:aa:55:00:0f");
        assert_eq!(text(d.take("br0", false)), "aa:55:aa:55:00:10");
        d.bridge_made("br1");
        assert_eq!(text(d.take("br1", false)), "aa:55:aa:55:00:12");
        // A requested number goes ahead of the bridge's own interface.
        let mut d = DummyMacs::default();
        d.bridge_made("br0");
        assert_eq!(text(d.take("br0", true)), "aa:55:aa:55:00:0e");
        d.settle("br0");
        assert_eq!(text(d.take("br0", false)), "aa:55:aa:55:00:10");
    }

    #[test]
    fn a_bridge_s_default_address_comes_from_its_uuid() {
        for (uuid, mac) in [
            ("1870aa06-d1a8-4e26-9d6c-cc1a857a5659", "06:aa:70:18:26:4e"),
            ("ed82848c-1fd9-41a7-baf7-23c67e73eebc", "8e:84:82:ed:a7:41"),
        ] {
            let uuid = uuid::Uuid::parse_str(uuid).expect("a UUID");
            assert_eq!(text(from_uuid(uuid)), mac);
        }
    }

    #[test]
    fn hwaddr_must_be_six_short_hex_groups_naming_a_unicast_address() {
        let default = [0x02, 0, 0, 0, 0, 9];
        for (hw, want) in [
            ("0:1:2:3:4:5", "00:01:02:03:04:05"),
            ("00:11:22:33:44:5F", "00:11:22:33:44:5f"),
            ("02:00:00:00:00:01", "02:00:00:00:00:01"),
            ("01:00:00:00:00:01", "02:00:00:00:00:09"),
            ("00:00:00:00:00:00", "02:00:00:00:00:09"),
            ("garbage", "02:00:00:00:00:09"),
            ("00:11:22:33:44:55:66", "02:00:00:00:00:09"),
            ("+1:2:3:4:5:6", "02:00:00:00:00:09"),
            ("001:2:3:4:5:6", "02:00:00:00:00:09"),
            ("1:2:3:4:5:6 ", "02:00:00:00:00:09"),
        ] {
            assert_eq!(text(bridge_mac(Some(hw), [], default)), want, "{hw}");
        }
    }

    #[test]
    fn the_lowest_global_port_address_beats_the_default() {
        let default = [0x02, 0, 0, 0, 0, 9];
        let ports = [
            [0x52, 0x54, 0, 0, 0, 1],
            [0x00, 0x1b, 0x21, 0, 0, 2],
            [0x00, 0x1b, 0x21, 0, 0, 1],
            [0xaa, 0x55, 0xaa, 0x55, 0, 0x0f],
        ];
        assert_eq!(text(bridge_mac(None, ports, default)), "00:1b:21:00:00:01");
        let dummies = [[0xaa, 0x55, 0xaa, 0x55, 0, 0x0f]];
        assert_eq!(bridge_mac(None, dummies, default), default);
    }

    #[test]
    fn datapath_id_text_as_open_vswitch_takes_it() {
        let mac = [0xde, 0xd5, 0x0e, 0x9e, 0x9b, 0x45];
        for (id, want) in [
            ("00000000000000AB", 0xab),
            ("0xab", 0xab),
            ("0X2", 2),
            ("0x000000000000000f", 0xf),
            ("0xffffffffffffffff", u64::MAX),
            ("0000000000000000", 0xded5_0e9e_9b45),
            ("0x0", 0xded5_0e9e_9b45),
            ("1", 0xded5_0e9e_9b45),
            ("000000000000000ab", 0xded5_0e9e_9b45),
            ("0x0000000000000000e", 0xded5_0e9e_9b45),
            ("0000000000000012q", 0xded5_0e9e_9b45),
            ("0x+5", 0xded5_0e9e_9b45),
            (" 000000000000ab", 0xded5_0e9e_9b45),
        ] {
            assert_eq!(datapath_id(Some(id), mac), want, "{id}");
        }
        assert_eq!(datapath_id(None, mac), 0xded5_0e9e_9b45);
    }
}
