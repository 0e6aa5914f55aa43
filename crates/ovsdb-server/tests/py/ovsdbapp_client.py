"""ovsdbapp (what the Neutron agent drives Open vSwitch with) against an OVSDB server.

Usage: ovsdbapp_client.py REMOTE

Creates the root row, a bridge and ports the way the Neutron OVS agent does, reads them
back, and sees a change another client makes. ovsdbapp waits after each transaction for
ovs-vswitchd to catch up (`cur_cfg` reaching `next_cfg`); a stand-in here does that part of
the daemon's job, as another client of the server. Prints what it saw, without UUIDs, for a
line-by-line comparison of ferrovs with Open vSwitch's ovsdb-server.
"""

import sys
import threading
import time

import ovs.jsonrpc
import ovs.stream
from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl

TIMEOUT = 10


def transact(remote, ops):
    """One transaction on a connection of its own: another client, as far as the server
    can tell."""
    error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(remote))
    if error:
        print("cannot connect: %s" % error)
        sys.exit(1)
    rpc = ovs.jsonrpc.Connection(stream)
    error, reply = rpc.transact_block(
        ovs.jsonrpc.Message.create_request("transact", ["Open_vSwitch"] + ops))
    rpc.close()
    if error or any("error" in r for r in reply.result):
        print("transaction failed: %s %s" % (error, reply and reply.result))
        sys.exit(1)


def stand_in_vswitchd(remote):
    """Gives new interfaces an `ofport` and follows `next_cfg` into `cur_cfg`, in one
    transaction, as ovs-vswitchd does once it has applied a change."""
    error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(remote))
    if error:
        return
    rpc = ovs.jsonrpc.Connection(stream)
    rpc.send(ovs.jsonrpc.Message.create_request(
        "monitor", ["Open_vSwitch", "cfg", {"Open_vSwitch": {"columns": ["next_cfg"]},
                                            "Interface": {"columns": ["ofport"]}}]))
    ofports = iter(range(1, 1 << 16))
    while True:
        error, msg = rpc.recv_block()
        if error:
            return
        updates = None
        if msg.type == ovs.jsonrpc.Message.T_REPLY and isinstance(msg.result, dict):
            updates = msg.result
        elif msg.type == ovs.jsonrpc.Message.T_NOTIFY and msg.method == "update":
            updates = msg.params[1]
        ops = []
        for uuid, row in (updates or {}).get("Interface", {}).items():
            if row.get("new", {}).get("ofport") == ["set", []]:
                ops.append({"op": "update", "table": "Interface",
                            "where": [["_uuid", "==", ["uuid", uuid]]],
                            "row": {"ofport": next(ofports)}})
        for uuid, row in (updates or {}).get("Open_vSwitch", {}).items():
            new = row.get("new")
            if new is not None:
                ops.append({"op": "update", "table": "Open_vSwitch",
                            "where": [["_uuid", "==", ["uuid", uuid]]],
                            "row": {"cur_cfg": new["next_cfg"]}})
        if ops:
            rpc.send(ovs.jsonrpc.Message.create_request("transact", ["Open_vSwitch"] + ops))


def main():
    remote = sys.argv[1]
    # The root row, as `ovs-vsctl init` makes it (ovsdbapp expects one).
    transact(remote, [{"op": "insert", "table": "Open_vSwitch",
                       "row": {"external_ids": ["map", [["system-id", "compute-1"]]]}}])
    threading.Thread(target=stand_in_vswitchd, args=(remote,), daemon=True).start()
    idl = connection.OvsdbIdl.from_server(remote, "Open_vSwitch")
    api = impl_idl.OvsdbIdl(connection.Connection(idl=idl, timeout=TIMEOUT))
    api.add_br("br-int", datapath_type="system").execute(check_error=True)
    with api.transaction(check_error=True) as txn:
        txn.add(api.add_port("br-int", "tap1"))
        txn.add(api.db_set("Interface", "tap1",
                           ("external_ids", {"iface-id": "port-1", "attached-mac": "fa:16:3e:00:00:01"})))
        txn.add(api.db_set("Port", "tap1", ("tag", 1)))
    api.add_br("br-tun", datapath_type="system").execute(check_error=True)
    with api.transaction(check_error=True) as txn:
        for bridge, port, peer in [("br-int", "patch-tun", "patch-int"),
                                   ("br-tun", "patch-int", "patch-tun")]:
            txn.add(api.add_port(bridge, port))
            txn.add(api.db_set("Interface", port, ("type", "patch"),
                               ("options", {"peer": peer})))
    print("bridges:", sorted(api.list_br().execute(check_error=True)))
    print("br-int ports:", sorted(api.list_ports("br-int").execute(check_error=True)))
    print("br-tun ports:", sorted(api.list_ports("br-tun").execute(check_error=True)))
    print("tap1 external_ids:",
          sorted(api.db_get("Interface", "tap1", "external_ids").execute(check_error=True).items()))
    print("tap1 tag:", api.db_get("Port", "tap1", "tag").execute(check_error=True))
    print("patch-tun options:",
          sorted(api.db_get("Interface", "patch-tun", "options").execute(check_error=True).items()))
    print("ofports:", sorted(api.db_get("Interface", i, "ofport").execute(check_error=True) > 0
                             for i in ["br-int", "tap1", "patch-tun", "br-tun", "patch-int"]))
    print("port-to-br tap1:", api.port_to_br("tap1").execute(check_error=True))
    print("br-exists br-int:", api.br_exists("br-int").execute(check_error=True))
    print("find by iface-id:", [r["name"] for r in api.db_find(
        "Interface", ("external_ids", "=", {"iface-id": "port-1"}),
        columns=["name"]).execute(check_error=True)])

    # Another client changes the port; ovsdbapp's cache must follow.
    transact(remote, [{"op": "update", "table": "Port", "where": [["name", "==", "tap1"]],
                       "row": {"tag": 4095}}])
    deadline = time.time() + TIMEOUT
    while api.db_get("Port", "tap1", "tag").execute(check_error=True) != 4095:
        if time.time() > deadline:
            print("the other client's change never arrived")
            sys.exit(1)
        time.sleep(0.05)
    print("after the other client: tap1 tag:", api.db_get("Port", "tap1", "tag").execute(check_error=True))

    api.del_port("tap1").execute(check_error=True)
    api.del_br("br-tun").execute(check_error=True)
    print("after deletions: bridges:", sorted(api.list_br().execute(check_error=True)),
          "br-int ports:", sorted(api.list_ports("br-int").execute(check_error=True)))
    print("interfaces left:", sorted(r["name"] for r in api.db_list(
        "Interface", columns=["name"]).execute(check_error=True)))
    sys.stdout.flush()


main()
