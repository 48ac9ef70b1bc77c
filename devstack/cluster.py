"""A local Redis Cluster run as child processes: masters with one replica each, on loopback.

The test suite's cluster tier runs on it; a developer can start one by hand to point
``REDIS_URL`` at (``python -m devstack.cluster DIR``). Every node is a ``RedisServer`` with
cluster mode on, its own directory (append-only file and ``nodes.conf``) and a short node
timeout, so a killed master is replaced by its replica within a few seconds, and a node started
again on its directory rejoins the cluster (a former master comes back as a replica).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis
import structlog

from devstack.processes import DevstackError, port_is_free
from devstack.servers import RedisServer

log = structlog.get_logger()

CLUSTER_BUS_OFFSET = 10000
"""Redis Cluster nodes talk to each other on their port + 10000."""


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_cluster_port() -> int:
    """A loopback port free for a node, with its cluster bus port free as well.

    Both lie below the kernel's ephemeral range, so an outgoing connection made meanwhile (by
    any process) cannot take the bus port between this check and the node's bind.
    """
    top = _ephemeral_low() - CLUSTER_BUS_OFFSET - 1
    for _ in range(1000):
        port = random.randint(min(10000, top - 1000), top)
        if port_is_free(port) and port_is_free(port + CLUSTER_BUS_OFFSET):
            return port
    raise DevstackError("no free port pair for a Redis Cluster node")


class LocalCluster:
    """``masters`` masters and ``masters * replicas`` replicas under ``dir``."""

    def __init__(
        self, dir: Path, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000
    ) -> None:
        self.dir = Path(dir).resolve()
        self.masters, self.replicas = masters, replicas
        self.nodes: list[RedisServer] = []
        for i in range(masters * (1 + replicas)):
            port = free_cluster_port()
            args = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout_ms))
            self.nodes.append(RedisServer(self.dir / f"node{i}", port, extra_args=args))

    @property
    def url(self) -> str:
        """Any node's URL: a cluster client finds the others from it."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start every node, form the cluster the first time, wait until it is healthy."""
        try:
            for node in self.nodes:
                node.start()
            if not self._formed():
                self._create()
            self.wait_healthy(timeout_s)
        except Exception:
            self.stop()  # no node left running behind a cluster that never formed
            raise
        log.info("redis_cluster_started", url=self.url, nodes=len(self.nodes))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def _formed(self) -> bool:
        with redis.Redis(port=self.nodes[0].port, socket_timeout=5) as c:
            info = c.execute_command("CLUSTER", "INFO").decode()
        return "cluster_slots_assigned:16384" in info

    def _create(self) -> None:
        exe = shutil.which("redis-cli")
        if exe is None:
            raise DevstackError("redis-cli is not installed (apt-get install redis-tools)")
        argv = [exe, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes)]
        argv += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise DevstackError(f"redis-cli --cluster create failed: {done.stdout[-2000:]!r}")

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        """Wait until every node says the cluster is ok and every master has a live replica."""
        deadline = time.monotonic() + timeout_s
        problem = "not checked"
        while time.monotonic() < deadline:
            problem = self._problem()
            if not problem:
                return
            time.sleep(0.1)
        raise DevstackError(f"the Redis Cluster is not healthy after {timeout_s}s: {problem}")

    def _problem(self) -> str:
        masters = 0
        for node in self.nodes:
            try:
                with redis.Redis(port=node.port, socket_timeout=2) as c:
                    info = c.execute_command("CLUSTER", "INFO").decode()
                    repl = c.info("replication")
            except redis.RedisError as e:
                return f"node {node.port}: {e}"
            if "cluster_state:ok" not in info:
                return f"node {node.port}: cluster state not ok"
            if repl["role"] == "master":
                masters += 1
                online = [v for k, v in repl.items() if k.startswith("slave") and
                          isinstance(v, dict) and v.get("state") == "online"]
                if len(online) < self.replicas:
                    return f"master {node.port} has {len(online)} replicas online"
            elif repl.get("master_link_status") != "up":
                return f"replica {node.port}: link to its master is down"
        if masters != self.masters:
            return f"{masters} masters, want {self.masters}"
        return ""

    def master_ports(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        out = []
        for node in self.nodes:
            if node.running:
                with redis.Redis(port=node.port, socket_timeout=2) as c:
                    if c.info("replication")["role"] == "master":
                        out.append(node.port)
        return out

    def replicas_of(self, master_port: int) -> list[int]:
        """The ports of the replicas attached to the master on ``master_port``."""
        with redis.Redis(port=master_port, socket_timeout=2) as c:
            repl = c.info("replication")
        return [int(v["port"]) for k, v in repl.items() if k.startswith("slave")
                and isinstance(v, dict)]

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def master_of_slot(self, slot: int) -> int:
        """The port of the master serving ``slot`` (as the cluster says now)."""
        with redis.Redis(port=next(n.port for n in self.nodes if n.running)) as c:
            for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise DevstackError(f"slot {slot} is not served")

    def flush(self) -> None:
        """Empty every master (replicas follow) and wait until the replicas have caught up."""
        for port in self.master_ports():
            with redis.Redis(port=port, socket_timeout=10) as c:
                c.flushall()
                c.execute_command("WAIT", self.replicas, 5000)

    def heal(self, timeout_s: float = 30.0) -> None:
        """Start the nodes that died (they rejoin as replicas) and wait until all is healthy."""
        for node in self.nodes:
            node.resume()
            node.start()
        self.wait_healthy(timeout_s)


if __name__ == "__main__":
    cluster = LocalCluster(Path(sys.argv[1] if len(sys.argv) > 1 else ".waymark/cluster"))
    cluster.start()
    print(f"REDIS_URL={cluster.url}  (Ctrl-C stops it)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
