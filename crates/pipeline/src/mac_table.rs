//! The MAC learning table behind NORMAL: which port a (VLAN, MAC) was last seen on.
//!
//! Entries age out `aging` after they were last refreshed (300 s by default, as in Open
//! vSwitch's `mac-aging-time`). Age is judged against the `now` the caller passes; an expired
//! entry is treated as absent by [`MacTable::lookup`] even before [`MacTable::expire`] removes it,
//! so results never depend on when housekeeping last ran.

use crate::clock::Millis;
use crate::dpif::Mac;
use fvs_flow::PortNo;
use std::collections::HashMap;

/// Default MAC aging time, seconds.
pub const DEFAULT_AGING_SECS: u64 = 300;

/// One learned MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The port it was seen on.
    pub port: PortNo,
    /// When it was last seen.
    pub last_seen: Millis,
}

/// A bridge's MAC table.
#[derive(Clone, Debug)]
pub struct MacTable {
    entries: HashMap<(u16, Mac), MacEntry>,
    aging_secs: u64,
}

impl Default for MacTable {
    fn default() -> Self {
        Self::new(DEFAULT_AGING_SECS)
    }
}

impl MacTable {
    /// An empty table whose entries live `aging_secs` seconds.
    pub fn new(aging_secs: u64) -> Self {
        Self {
            entries: HashMap::new(),
            aging_secs,
        }
    }

    /// Records that `mac` in `vlan` was seen on `port` at `now`. Returns true when this is news
    /// (the MAC was unknown, expired, or on another port), which is when a trace reports it.
    pub fn learn(&mut self, vlan: u16, mac: Mac, port: PortNo, now: Millis) -> bool {
        let was = self.lookup(vlan, mac, now);
        self.entries.insert(
            (vlan, mac),
            MacEntry {
                port,
                last_seen: now,
            },
        );
        was != Some(port)
    }

    /// Drops entries older than the aging time.
    pub fn expire(&mut self, now: Millis) {
        let aging = self.aging_secs;
        self.entries
            .retain(|_, e| now.since(e.last_seen) < aging.saturating_mul(1000));
    }

    /// Forgets every MAC learned on `port` (the port went away).
    pub fn flush_port(&mut self, port: PortNo) {
        self.entries.retain(|_, e| e.port != port);
    }

    /// The port `mac` in `vlan` was last seen on, unless it has aged out.
    pub fn lookup(&self, vlan: u16, mac: Mac, now: Millis) -> Option<PortNo> {
        self.entries
            .get(&(vlan, mac))
            .filter(|e| now.since(e.last_seen) < self.aging_secs.saturating_mul(1000))
            .map(|e| e.port)
    }

    /// `ovs-appctl fdb/show` text: a header, then one line per live entry (port, VLAN, MAC,
    /// age in seconds), in [`MacTable::entries`] order.
    pub fn show(&self, now: Millis) -> String {
        let mut out = String::from(" port  VLAN  MAC                Age\n");
        for (port, vlan, mac, age) in self.entries(now) {
            out.push_str(&format!(
                "{:>5}  {vlan:>4}  {mac}  {age:>3}\n",
                port.to_string()
            ));
        }
        out
    }

    /// Live entries as (port, VLAN, MAC, age in seconds), ordered like `fdb/show` sorts them.
    pub fn entries(&self, now: Millis) -> Vec<(PortNo, u16, Mac, u64)> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| now.since(e.last_seen) < self.aging_secs.saturating_mul(1000))
            .map(|((vlan, mac), e)| (e.port, *vlan, *mac, now.secs_since(e.last_seen)))
            .collect();
        v.sort_by_key(|(p, vlan, mac, _)| (*p, *vlan, mac.to_u64()));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_reports_news_and_entries_age_out() {
        let mut t = MacTable::default();
        let m = Mac::from_u64(0xfa16_3e00_0001);
        assert!(t.learn(1, m, PortNo(2), Millis::ZERO));
        assert!(!t.learn(1, m, PortNo(2), Millis::from_secs(10)));
        assert!(
            t.learn(1, m, PortNo(3), Millis::from_secs(20)),
            "a move is news"
        );
        assert_eq!(t.lookup(1, m, Millis::from_secs(319)), Some(PortNo(3)));
        assert_eq!(
            t.lookup(2, m, Millis::from_secs(21)),
            None,
            "VLANs are separate"
        );
        assert_eq!(
            t.show(Millis::from_secs(25)),
            " port  VLAN  MAC                Age\n    3     1  fa:16:3e:00:00:01    5\n"
        );
        assert_eq!(t.lookup(1, m, Millis::from_secs(320)), None);
        t.expire(Millis::from_secs(320));
        assert!(t.entries(Millis::from_secs(320)).is_empty());
    }
}
