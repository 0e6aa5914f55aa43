//! `ovs-vsctl` command lines that build a bridge and its ports in one transaction.
//!
//! Tests build the same small bridges again and again (`br0` with dummy ports `p1` and `p2`
//! at fixed OpenFlow port numbers, perhaps a pcap on one). Written out word by word each one
//! is thirty lines; [`AddBridge`] says it in three and prints the very same words, so what
//! `ovs-vsctl` is asked stays visible in a failure message.

/// `add-br BRIDGE [-- set bridge BRIDGE ...] [-- add-port BRIDGE PORT [-- set interface PORT
/// ...]]...`, as words for [`crate::PrivateOvs::vsctl`] and its likes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddBridge {
    bridge: String,
    words: Vec<String>,
}

impl AddBridge {
    /// `add-br BRIDGE`.
    #[must_use]
    pub fn new(bridge: &str) -> Self {
        Self {
            bridge: bridge.to_owned(),
            words: vec!["add-br".to_owned(), bridge.to_owned()],
        }
    }

    /// The same words for a bridge that already exists: no `add-br`, so the first step
    /// starts the command line itself (without a leading `--`).
    #[must_use]
    pub fn existing(bridge: &str) -> Self {
        Self {
            bridge: bridge.to_owned(),
            words: Vec::new(),
        }
    }

    /// `--` between two commands, and none before the first.
    fn separate(&mut self) {
        if !self.words.is_empty() {
            self.words.push("--".to_owned());
        }
    }

    /// `-- set bridge BRIDGE SETTINGS...` (`fail_mode=secure`, `datapath_type=dummy`, ...).
    #[must_use]
    pub fn set(mut self, settings: &[&str]) -> Self {
        self.separate();
        for w in ["set", "bridge", &self.bridge] {
            self.words.push(w.to_owned());
        }
        self.words.extend(settings.iter().map(|w| (*w).to_owned()));
        self
    }

    /// `-- add-port BRIDGE PORT`, then `-- set interface PORT SETTINGS...` unless there are
    /// none.
    #[must_use]
    pub fn port(self, port: &str, settings: &[&str]) -> Self {
        self.port_with(port, &[], settings)
    }

    /// `-- add-port BRIDGE PORT PORT_COLUMNS...` (the Port's own columns, such as `tag=1`),
    /// then `-- set interface PORT SETTINGS...` unless there are none.
    #[must_use]
    pub fn port_with(mut self, port: &str, port_columns: &[&str], settings: &[&str]) -> Self {
        self.separate();
        for w in ["add-port", &self.bridge, port] {
            self.words.push(w.to_owned());
        }
        self.words
            .extend(port_columns.iter().map(|w| (*w).to_owned()));
        if !settings.is_empty() {
            for w in ["--", "set", "interface", port] {
                self.words.push(w.to_owned());
            }
            self.words.extend(settings.iter().map(|w| (*w).to_owned()));
        }
        self
    }

    /// The words, to pass as `&bridge.args()`.
    #[must_use]
    pub fn args(&self) -> Vec<&str> {
        self.words.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_come_out_in_ovs_vsctl_order() {
        let b = AddBridge::new("br0")
            .set(&["fail_mode=secure"])
            .port("p1", &["type=dummy", "ofport_request=1"])
            .port("p2", &[])
            .port_with("p3", &["tag=1"], &["type=dummy"]);
        assert_eq!(
            b.args().join(" "),
            "add-br br0 -- set bridge br0 fail_mode=secure \
             -- add-port br0 p1 -- set interface p1 type=dummy ofport_request=1 \
             -- add-port br0 p2 -- add-port br0 p3 tag=1 -- set interface p3 type=dummy"
        );
    }

    #[test]
    fn an_existing_bridge_starts_with_its_first_step() {
        let b = AddBridge::existing("br0")
            .set(&["protocols=OpenFlow13"])
            .port("p1", &["ofport_request=1"]);
        assert_eq!(
            b.args().join(" "),
            "set bridge br0 protocols=OpenFlow13 \
             -- add-port br0 p1 -- set interface p1 ofport_request=1"
        );
    }
}
