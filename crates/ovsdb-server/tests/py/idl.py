"""The Open vSwitch Python IDL (Debian's python3-openvswitch) against an OVSDB server.

Usage: idl.py REMOTE SCHEMA

Two IDL clients on the same server: the first creates the root row and a bridge, the
second adds a port and changes the bridge, the first must see both; then the first
reconnects (resuming with monitor_cond_since where the server allows) and must still see
the same database. Prints what each step saw, without UUIDs, so that the output of a run
against ferrovs and one against Open vSwitch's ovsdb-server can be compared line by line.
"""

import sys
import time

import ovs.db.idl
import ovs.poller

TIMEOUT = 10.0


def wait_until(idl, what, cond):
    """Runs the IDL until cond() holds."""
    deadline = time.time() + TIMEOUT
    while True:
        idl.run()
        if cond():
            return
        if time.time() > deadline:
            print("timeout waiting for %s" % what)
            sys.exit(1)
        poller = ovs.poller.Poller()
        idl.wait(poller)
        poller.timer_wait(50)
        poller.block()


def open_idl(remote, schema):
    helper = ovs.db.idl.SchemaHelper(schema)
    helper.register_all()
    idl = ovs.db.idl.Idl(remote, helper)
    seqno = idl.change_seqno
    wait_until(idl, "the initial contents", lambda: idl.change_seqno != seqno)
    return idl


def commit(idl, build):
    """Builds a transaction with build(txn) and commits it, blocking."""
    txn = ovs.db.idl.Transaction(idl)
    build(txn)
    while True:
        status = txn.commit()
        if status != ovs.db.idl.Transaction.INCOMPLETE:
            break
        poller = ovs.poller.Poller()
        idl.wait(poller)
        txn.wait(poller)
        poller.block()
        idl.run()
    return ovs.db.idl.Transaction.status_to_string(status)


def summary(idl):
    """The database as the IDL sees it: bridges, their ports and interfaces, by name."""
    lines = []
    roots = list(idl.tables["Open_vSwitch"].rows.values())
    lines.append("roots: %d" % len(roots))
    for root in roots:
        lines.append("  next_cfg=%d external_ids=%s" % (root.next_cfg, sorted(root.external_ids.items())))
        for br in sorted(root.bridges, key=lambda b: b.name):
            lines.append("  bridge %s fail_mode=%s external_ids=%s"
                         % (br.name, br.fail_mode, sorted(br.external_ids.items())))
            for port in sorted(br.ports, key=lambda p: p.name):
                ifaces = sorted("%s:%s" % (i.name, i.type) for i in port.interfaces)
                lines.append("    port %s tag=%s interfaces=%s" % (port.name, port.tag, ifaces))
    lines.append("interfaces in table: %s"
                 % sorted(i.name for i in idl.tables["Interface"].rows.values()))
    return lines


def add_bridge(idl, name):
    def build(txn):
        iface = txn.insert(idl.tables["Interface"])
        iface.name = name
        iface.type = "internal"
        port = txn.insert(idl.tables["Port"])
        port.name = name
        port.interfaces = [iface]
        br = txn.insert(idl.tables["Bridge"])
        br.name = name
        br.ports = [port]
        roots = list(idl.tables["Open_vSwitch"].rows.values())
        if roots:
            root = roots[0]
            root.verify("bridges")
            root.bridges = root.bridges + [br]
        else:
            root = txn.insert(idl.tables["Open_vSwitch"])
            root.bridges = [br]
            root.external_ids = {"system-id": "py-idl"}
    return commit(idl, build)


def add_port(idl, bridge, name, tag):
    def build(txn):
        br = [b for b in idl.tables["Bridge"].rows.values() if b.name == bridge][0]
        iface = txn.insert(idl.tables["Interface"])
        iface.name = name
        port = txn.insert(idl.tables["Port"])
        port.name = name
        port.tag = tag
        port.interfaces = [iface]
        br.verify("ports")
        br.ports = br.ports + [port]
        br.fail_mode = "secure"
        br.setkey("external_ids", "owner", "second")
    return commit(idl, build)


def main():
    remote, schema = sys.argv[1], sys.argv[2]
    first = open_idl(remote, schema)
    print("first, empty:")
    print("\n".join(summary(first)))
    print("first adds br-int: %s" % add_bridge(first, "br-int"))
    print("\n".join(summary(first)))

    second = open_idl(remote, schema)
    print("second sees:")
    print("\n".join(summary(second)))
    print("second adds a port: %s" % add_port(second, "br-int", "tap0", 5))

    wait_until(first, "the second client's port",
               lambda: any(p.name == "tap0" for p in first.tables["Port"].rows.values()))
    print("first sees the second's change:")
    print("\n".join(summary(first)))

    # A transaction built on what the first saw before the second's change is refused by
    # its verify and retried by the caller: here the first's view is current, so it passes.
    print("first adds br-ex: %s" % add_bridge(first, "br-ex"))

    # Reconnect: the IDL resumes (monitor_cond_since) and must end up with the same view,
    # including a change made while it was away.
    wait_until(second, "br-ex",
               lambda: any(b.name == "br-ex" for b in second.tables["Bridge"].rows.values()))
    before = summary(first)
    first.force_reconnect()
    print("second changes br-ex while first reconnects: %s" % commit(
        second,
        lambda txn: [b for b in second.tables["Bridge"].rows.values()
                     if b.name == "br-ex"][0].setkey("external_ids", "k", "v")))
    wait_until(first, "the change made while reconnecting",
               lambda: any(b.external_ids.get("k") == "v"
                           for b in first.tables["Bridge"].rows.values()))
    after = summary(first)
    print("first after reconnecting:")
    print("\n".join(after))
    print("unchanged apart from br-ex: %s"
          % ([l for l in before if "br-ex" not in l] == [l for l in after if "br-ex" not in l]))
    first.close()
    second.close()


main()
