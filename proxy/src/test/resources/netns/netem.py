#!/usr/bin/env python3
"""Delays and drops the packets an iptables NFQUEUE rule hands to it, like `tc qdisc ... netem delay D loss P`
for the kernels built without sch_netem. It speaks the nfnetlink_queue protocol over a raw netlink socket, so it
needs nothing but Python 3. Each packet is dropped with probability LOSS, else accepted DELAY ms after it was
queued (the order of packets is kept). Runs in the network namespace it is started in, until SIGTERM.

    netem.py --queue 0 --delay-ms 200 --loss 0.3
    iptables -A OUTPUT -p tcp --dport 7946 -j NFQUEUE --queue-num 0 --queue-bypass
"""
import argparse
import errno
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_DROP, NF_ACCEPT = 0, 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(msg_type, queue, attributes, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def configure(sock, queue):
    requests = [
        [attribute(NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, 0))],
        [attribute(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META) + b"\0\0\0")],
        [attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 65536))],
        [attribute(NFQA_CFG_MASK, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN)),
         attribute(NFQA_CFG_FLAGS, struct.pack(">I", NFQA_CFG_F_FAIL_OPEN))],
    ]
    for seq, attrs in enumerate(requests, 1):
        sock.send(message(NFQNL_MSG_CONFIG, queue, attrs, NLM_F_REQUEST | NLM_F_ACK, seq))
        reply = sock.recv(65536)
        length, kind = struct.unpack_from("=IH", reply)
        if kind == NLMSG_ERROR:
            (code,) = struct.unpack_from("=i", reply, 16)
            if code != 0:
                raise OSError(-code, "nfqueue configuration step %d refused: %s" % (seq, errno.errorcode.get(-code, code)))


def packet_ids(data):
    """The ids of the queued packets in one read of the socket."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            at = offset + 20
            end = offset + length
            while at + 4 <= end:
                attr_len, attr_type = struct.unpack_from("=HH", data, at)
                if attr_len < 4:
                    break
                if attr_type & 0x7fff == NFQA_PACKET_HDR:
                    yield struct.unpack_from(">I", data, at + 4)[0]
                at += (attr_len + 3) & ~3
        offset += (length + 3) & ~3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--loss", type=float, default=0, help="probability of a drop, 0..1")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((0, 0))
    configure(sock, args.queue)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    print("netem: queue %d, delay %g ms, loss %g" % (args.queue, args.delay_ms, args.loss), flush=True)

    due = []  # (when, sequence, packet id)
    sequence = 0
    queued = dropped = 0
    delay = args.delay_ms / 1000.0

    def verdict(packet_id, accept):
        sock.send(message(NFQNL_MSG_VERDICT, args.queue,
                          [attribute(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT if accept else NF_DROP, packet_id))]))

    while running[0]:
        now = time.monotonic()
        while due and due[0][0] <= now:
            verdict(heapq.heappop(due)[2], True)
        timeout = max(0.0, due[0][0] - now) if due else 0.5
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        try:
            data = sock.recv(1 << 20)
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                continue  # the kernel lost notifications; with fail-open nothing is stuck
            raise
        arrived = time.monotonic()
        for packet_id in packet_ids(data):
            queued += 1
            if random.random() < args.loss:
                dropped += 1
                verdict(packet_id, False)
            else:
                sequence += 1
                heapq.heappush(due, (arrived + delay, sequence, packet_id))
    for _, _, packet_id in due:
        verdict(packet_id, True)
    print("netem: %d packets, %d dropped" % (queued, dropped), flush=True)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print("netem: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
