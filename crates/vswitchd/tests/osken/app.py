"""A small os-ken controller for ferrovs's controller test.

Usage: python3 app.py HOST PORT LOG [OS-KEN OPTION...]

Further arguments are os-ken's own options: with `--ofp-ssl-listen-port P --ctl-privkey KEY
--ctl-cert CERT --ca-certs CA` it listens for TLS on P instead (the ssl test).

Listens for a switch on HOST:PORT, and once one connects (OpenFlow 1.3) installs:

  table 0, priority 0, catch-all         -> CONTROLLER (no buffer): the table-miss rule
  table 0, priority 10, in_port=1, udp   -> Nicira reg_load(5 -> reg0), Nicira resubmit(,1)
  table 1, priority 10, reg0=5           -> CONTROLLER, 128 bytes

then a barrier. Every packet-in is written to LOG as one JSON line (reason, table, cookie,
match fields, lengths, the packet in hex) and answered with a packet-out of the same packet
to port 2, from the packet-in's in_port. LOG also records "connected" and "ready" (barrier
reply). Everything is printed with sorted keys so two runs compare as text.
"""

import json
import sys

from os_ken.lib import hub

hub.patch(thread=False)

from os_ken import cfg  # noqa: E402
from os_ken.base import app_manager  # noqa: E402
from os_ken.controller import ofp_event  # noqa: E402
from os_ken.controller.handler import (  # noqa: E402
    CONFIG_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from os_ken.ofproto import nicira_ext, ofproto_v1_3  # noqa: E402

LOG = None


def record(rec):
    with open(LOG, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


class FvsTestApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        dp = ev.msg.datapath
        ofp = dp.ofproto
        p = dp.ofproto_parser
        record({"event": "connected", "n_tables": ev.msg.n_tables})

        def add(table, priority, match, actions, cookie):
            inst = [p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
            dp.send_msg(
                p.OFPFlowMod(
                    dp,
                    cookie=cookie,
                    table_id=table,
                    priority=priority,
                    match=match,
                    instructions=inst,
                )
            )

        add(
            0,
            0,
            p.OFPMatch(),
            [p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)],
            0x10,
        )
        add(
            0,
            10,
            p.OFPMatch(in_port=1, eth_type=0x0800, ip_proto=17),
            [
                p.NXActionRegLoad(
                    ofs_nbits=nicira_ext.ofs_nbits(0, 31), dst="reg0", value=5
                ),
                p.NXActionResubmitTable(in_port=0xFFF8, table_id=1),
            ],
            0x20,
        )
        add(
            1,
            10,
            p.OFPMatch(reg0=5),
            [p.OFPActionOutput(ofp.OFPP_CONTROLLER, 128)],
            0x30,
        )
        dp.send_msg(p.OFPBarrierRequest(dp))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier_reply(self, ev):
        record({"event": "ready"})

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp = dp.ofproto
        p = dp.ofproto_parser
        fields = {k: v for k, v in msg.match.items()}
        record(
            {
                "event": "packet_in",
                "reason": msg.reason,
                "table_id": msg.table_id,
                "cookie": msg.cookie,
                "buffer_id": msg.buffer_id,
                "match": fields,
                "total_len": msg.total_len,
                "data": msg.data.hex(),
            }
        )
        dp.send_msg(
            p.OFPPacketOut(
                dp,
                buffer_id=ofp.OFP_NO_BUFFER,
                in_port=fields["in_port"],
                actions=[p.OFPActionOutput(2)],
                data=msg.data,
            )
        )


def main():
    global LOG
    host, port, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg.CONF(
        args=["--ofp-listen-host", host, "--ofp-tcp-listen-port", port] + sys.argv[4:],
        project="os_ken",
    )
    record({"event": "listening"})
    app_manager.AppManager.run_apps([__name__])


if __name__ == "__main__":
    main()
