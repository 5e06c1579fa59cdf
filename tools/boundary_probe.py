#!/usr/bin/env python3
"""Black-box probe of the network boundary, as an attacker on this machine would run it.

Runs a release `arena server` and `arena bots` on loopback and throws at them what the boundary
issue lists: the 18-byte datagrams that crashed renetcode (spoofed from a playing bot's address
with a raw socket, so it needs root), a flood of crafted connection requests, four senders
flooding junk at full speed while eight bots play, and a fake server answering a connecting
bot with a lying challenge. Prints what it saw; every target address is 127.0.0.1.

    cargo build --release --example arena
    sudo python3 tools/boundary_probe.py [--arena target/release/examples/arena]
"""

import argparse
import json
import multiprocessing
import os
import re
import socket
import struct
import subprocess
import sys
import time

VERSION = b"NETCODE 1.02\0"
ARENA_PROTOCOL_ID = 0x4152_454E_415F_3031


def start(cmd, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, RUST_LOG="info"))


def wait_for(path, pattern, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path) as f:
            match = re.search(pattern, f.read())
        if match:
            return match
        time.sleep(0.2)
    raise RuntimeError(f"{pattern!r} not in {path} after {timeout} s")


def udp_ports(pid):
    """Local UDP ports of a process (its sockets), from `ss`."""
    out = subprocess.run(["ss", "-unap"], capture_output=True, text=True).stdout
    ports = []
    for line in out.splitlines():
        if f"pid={pid}," in line:
            local = line.split()[3]
            ports.append(int(local.rsplit(":", 1)[1]))
    return ports


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def spoofed(src_port, dst_port, payload):
    """An IPv4/UDP datagram from 127.0.0.1:src_port to 127.0.0.1:dst_port."""
    src = dst = socket.inet_aton("127.0.0.1")
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    header = struct.pack("!HHHH", src_port, dst_port, length, 0)
    udp = struct.pack("!HHHH", src_port, dst_port, length, checksum(pseudo + header + payload)) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0, 64, socket.IPPROTO_UDP, 0, src, dst)
    return ip + udp


def send_spoofed(src_port, dst_port, payloads):
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for payload in payloads:
        raw.sendto(spoofed(src_port, dst_port, payload), ("127.0.0.1", 0))
    raw.close()


def lies():
    top = bytes([0x84]) + struct.pack("<Q", 2**64 - 1) + bytes(8 + 16)
    return [bytes([0xF3]) + bytes(17), bytes([0xF5]) + bytes(39), bytes([0x85]) + bytes(17), top]


def crafted_requests(expiry):
    zeros = [bytes(1078)] * 500
    valid_header = VERSION + struct.pack("<QQ", ARENA_PROTOCOL_ID, expiry)
    forged = [bytes([0]) + valid_header + os.urandom(1078 - 1 - len(valid_header)) for _ in range(500)]
    return zeros, forged


def flood(port, seconds, seed):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.time() + seconds
    sent = 0
    junk = [os.urandom(n) for n in (0, 5, 18, 40, 300, 1078, 1400, 2000)]
    junk[5] = bytes(1) + junk[5][1:]
    while time.time() < end:
        for payload in junk:
            try:
                sock.sendto(payload, ("127.0.0.1", port))
                sent += 1
            except OSError:
                pass
    return sent


def error_lines(path):
    with open(path) as f:
        return sum(1 for line in f if " ERROR " in line or "panicked" in line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arena", default="target/release/examples/arena")
    parser.add_argument("--logs", default="/tmp/boundary_probe")
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    server_log = f"{args.logs}/server.log"
    bots_log = f"{args.logs}/bots.log"

    server = start([args.arena, "server", "--bind", "127.0.0.1", "--port", "0"], server_log)
    port = int(wait_for(server_log, r"listening on 127\.0\.0\.1:(\d+)").group(1))
    print(f"server on port {port}")
    bots = start([args.arena, "bots", "--count", "8", "--connect", f"127.0.0.1:{port}", "--duration", "40", "--json"], bots_log)
    time.sleep(6)
    bot_ports = udp_ports(bots.pid)
    print(f"bots' ports: {bot_ports}")
    errors_before = error_lines(server_log)

    # 1. The datagrams that crashed renetcode, from a playing bot's address.
    send_spoofed(bot_ports[0], port, lies() * 10)
    time.sleep(1)
    print(f"after 40 spoofed lies: server alive = {server.poll() is None}")

    # 2. Crafted connection requests.
    zeros, forged = crafted_requests(int(time.time()) + 8)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for payload in zeros + forged:
        sock.sendto(payload, ("127.0.0.1", port))
    time.sleep(1)
    print(f"after 1,000 crafted requests: server alive = {server.poll() is None}, "
          f"ERROR lines added = {error_lines(server_log) - errors_before}")

    # 3. Four senders at full speed for 15 s while the bots play.
    with multiprocessing.Pool(4) as pool:
        sent = sum(pool.starmap(flood, [(port, 15, seed) for seed in range(4)]))
    print(f"flood: {sent} datagrams from 4 senders in 15 s; server alive = {server.poll() is None}")

    bots.wait(timeout=120)
    with open(bots_log) as f:
        summary = [line for line in f if line.startswith("{")]
    print("bots:", summary[-1].strip() if summary else "no summary")
    print(f"server alive at the end = {server.poll() is None}; ERROR or panic lines in its log: "
          f"{error_lines(server_log)}")
    server.terminate()
    server.wait()
    with open(server_log) as f:
        dropped = [line.strip() for line in f if "dropped" in line]
    print("server summaries:", *dropped[-3:], sep="\n  ")

    # 4. A fake server that answers a connecting bot with a lying challenge.
    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fake.bind(("127.0.0.1", 0))
    fake.settimeout(0.2)
    fake_port = fake.getsockname()[1]
    victim_log = f"{args.logs}/victim.log"
    victim = start([args.arena, "bots", "--count", "1", "--connect", f"127.0.0.1:{fake_port}", "--duration", "8", "--json"], victim_log)
    answered = 0
    deadline = time.time() + 12
    while victim.poll() is None and time.time() < deadline:
        try:
            _, addr = fake.recvfrom(2048)
        except socket.timeout:
            continue
        for payload in [bytes([0xF2]) + bytes(17)] + lies():
            fake.sendto(payload, addr)
        answered += 1
    victim.wait(timeout=30)
    with open(victim_log) as f:
        text = f.read()
    print(f"fake server answered {answered} requests; bot exit code {victim.returncode}; "
          f"panicked: {'panicked' in text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
