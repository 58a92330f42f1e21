"""moto's server, with the public addresses of EC2 instances taken from a list of loopback addresses.

Started by wintermute_cloud_aws::testing::Moto::start_loopback with the venv's Python, with the same
arguments as moto_server. Before the server starts, moto's allocator of public IPv4 addresses (it
invents 54.214.x.y ones) is replaced: each new public address is the next one of
WINTERMUTE_MOTO_PUBLIC_IPS (comma-separated, all in 127.0.0.0/8), in order, then again from the
first. Tests forward those addresses' port 22 to real guests, so the core's SSH to an "EC2"
instance lands on a machine that exists. Only loopback addresses are accepted.
"""

import ipaddress
import itertools
import os
import sys
import threading


def public_addresses():
    raw = os.environ.get("WINTERMUTE_MOTO_PUBLIC_IPS", "")
    addresses = [a.strip() for a in raw.split(",") if a.strip()]
    if not addresses:
        sys.exit("WINTERMUTE_MOTO_PUBLIC_IPS names no address")
    for a in addresses:
        if not ipaddress.IPv4Address(a).is_loopback:
            sys.exit(f"{a} is not a loopback address (127.0.0.0/8)")
    return addresses


def main():
    addresses = itertools.cycle(public_addresses())
    lock = threading.Lock()

    def next_public_ip():
        with lock:
            return next(addresses)

    # The network interface model imported the function by name: replace it there too.
    import moto.ec2.models.elastic_network_interfaces as interfaces
    import moto.ec2.utils as utils

    utils.random_public_ip = next_public_ip
    interfaces.random_public_ip = next_public_ip

    from moto.server import main as server_main

    server_main(sys.argv[1:])


if __name__ == "__main__":
    main()
