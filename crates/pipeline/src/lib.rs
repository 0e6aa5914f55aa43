//! OpenFlow switch semantics without I/O: tables, flow-mods, translation through bridges into datapath actions.
