"""The Neutron OVS agent's use of the switch's database over the Manager port.

Usage: neutron_manager.py REMOTE

The agent asks for a Manager `ptcp:PORT:127.0.0.1` (the test does that with ovs-vsctl, as
the agent's helper does), then drives the database with ovsdbapp over `tcp:127.0.0.1:PORT`:
it makes br-int, plugs a VM port with its external_ids, and reads the port's ofport, which
only the switch can have written. ovsdbapp waits after each transaction for the switch to
apply it (`cur_cfg` reaching `next_cfg`), so this runs against a real switch. Prints what it
saw, without UUIDs, for comparison between ferrovs and Open vSwitch.
"""

import sys

from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl

TIMEOUT = 10


def main():
    remote = sys.argv[1]
    idl = connection.OvsdbIdl.from_server(remote, "Open_vSwitch")
    api = impl_idl.OvsdbIdl(connection.Connection(idl=idl, timeout=TIMEOUT))

    with api.transaction(check_error=True) as txn:
        txn.add(api.add_br("br-int", datapath_type="system"))
        txn.add(api.db_set("Bridge", "br-int", ("fail_mode", "secure")))
    with api.transaction(check_error=True) as txn:
        txn.add(api.add_port("br-int", "tap0"))
        txn.add(api.db_set(
            "Interface", "tap0",
            ("external_ids", {"iface-id": "port-a", "attached-mac": "fa:16:3e:00:00:01"})))
        txn.add(api.db_set("Port", "tap0", ("tag", 1)))

    print("bridges:", api.list_br().execute(check_error=True))
    print("ports:", api.list_ports("br-int").execute(check_error=True))
    print("fail_mode:", api.db_get("Bridge", "br-int", "fail_mode").execute(check_error=True))
    ofport = api.db_get("Interface", "tap0", "ofport").execute(check_error=True)
    print("tap0 ofport:", ofport)
    print("tap0 external_ids:",
          sorted(api.db_get("Interface", "tap0", "external_ids")
                 .execute(check_error=True).items()))
    print("tap0 tag:", api.db_get("Port", "tap0", "tag").execute(check_error=True))
    print("manager targets:", sorted(
        r.target for r in api.db_list_rows("Manager").execute(check_error=True)))

    with api.transaction(check_error=True) as txn:
        txn.add(api.del_port("tap0", "br-int"))
    print("ports after del_port:", api.list_ports("br-int").execute(check_error=True))


if __name__ == "__main__":
    main()
