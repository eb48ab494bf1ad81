#!/usr/bin/env bash
# Two "hosts" on one machine for multi-host MPI runs: network namespaces joined by a veth pair, with
# loopback-range addresses, a hostfile, and a remote-shell agent that mpirun uses instead of ssh.
#
#   scripts/netns-hosts.sh up        create gc-host1 (127.77.0.1) and gc-host2 (127.77.0.2), write
#                                    $NETNS_DIR/hostfile and $NETNS_DIR/rsh-agent (default /tmp/gc-netns)
#   scripts/netns-hosts.sh down      remove them
#   scripts/netns-hosts.sh run CMD…  run CMD inside gc-host1 (the launching host), e.g. mpirun with
#                                    $(scripts/netns-hosts.sh mpirun-options)
#   scripts/netns-hosts.sh mpirun-options   the mpirun options that use the hostfile and the agent
#   scripts/netns-hosts.sh check [tools dir]   a 2-rank train-gpt across the two namespaces must equal the
#                                    same job on one host (logs and checkpoint bytes); prints its tok/s
#
# Needs root (ip netns) and Open MPI. The namespaces share the file system, as hosts with a shared
# checkpoints directory would; only the network is separate, so ranks talk over TCP on the veth pair.
set -euo pipefail
cd "$(dirname "$0")/.."

NETNS_DIR=${NETNS_DIR:-/tmp/gc-netns}
NS1=gc-host1 NS2=gc-host2
IP1=127.77.0.1 IP2=127.77.0.2

up() {
  down 2> /dev/null || true
  ip netns add $NS1
  ip netns add $NS2
  ip link add gc-veth1 type veth peer name gc-veth2
  ip link set gc-veth1 netns $NS1
  ip link set gc-veth2 netns $NS2
  for pair in "$NS1 gc-veth1 $IP1" "$NS2 gc-veth2 $IP2"; do
    set -- $pair
    ip netns exec "$1" ip link set lo up
    # 127/8 addresses off the loopback device need route_localnet (otherwise dropped as martians).
    ip netns exec "$1" sysctl -q -w net.ipv4.conf.all.route_localnet=1 net.ipv4.conf."$2".route_localnet=1
    ip netns exec "$1" ip addr add "$3/24" dev "$2"
    ip netns exec "$1" ip link set "$2" up
  done
  # A loopback-range /24 on veth: replace the local table's 127/8 route so that the peer is not "local".
  for ns in $NS1 $NS2; do
    ip netns exec $ns ip route del local 127.0.0.0/8 dev lo table local 2> /dev/null || true
    ip netns exec $ns ip route add local 127.0.0.1/32 dev lo table local 2> /dev/null || true
  done
  mkdir -p "$NETNS_DIR"
  printf '%s slots=1\n%s slots=1\n' $IP1 $IP2 > "$NETNS_DIR/hostfile"
  cat > "$NETNS_DIR/rsh-agent" << EOF
#!/bin/sh
# mpirun's remote shell for the namespace hosts: rsh-agent [options] HOST COMMAND… runs COMMAND in HOST's namespace.
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host=\$1; shift
case "\$host" in
  $IP1) ns=$NS1 ;;
  $IP2) ns=$NS2 ;;
  *) echo "rsh-agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
EOF
  chmod +x "$NETNS_DIR/rsh-agent"
  # Reachability: a TCP connection from host 1 to a listener on host 2.
  ip netns exec $NS2 python3 -c "import socket; s = socket.socket(); s.bind(('$IP2', 47701)); s.listen(1); s.settimeout(5); s.accept()" &
  local listener=$!
  sleep 0.5
  ip netns exec $NS1 python3 -c "import socket; socket.create_connection(('$IP2', 47701), timeout=3)" \
    || { kill $listener 2> /dev/null; echo "netns-hosts: $IP1 cannot reach $IP2" >&2; exit 1; }
  wait $listener || true
  echo "netns-hosts: $NS1 ($IP1) and $NS2 ($IP2) up; hostfile $NETNS_DIR/hostfile" >&2
}

down() {
  ip netns del $NS1 2> /dev/null || true
  ip netns del $NS2 2> /dev/null || true
}

mpirun_options() {
  echo "--allow-run-as-root --hostfile $NETNS_DIR/hostfile --mca plm_rsh_agent $NETNS_DIR/rsh-agent" \
       "--mca plm_rsh_no_tree_spawn 1 --mca oob_tcp_if_include 127.77.0.0/24 --mca btl tcp,self" \
       "--mca btl_tcp_if_include 127.77.0.0/24 --bind-to none --map-by node"
}

check() {
  local tools=${1:-.build-mpi-rel/release}
  local work
  work=$(mktemp -d /tmp/gc-netns-check.XXXXXX)
  python3 - "$work" << 'EOF'
import sys, numpy as np
rng = np.random.default_rng(0)
def tokens(n):
    out, p = np.empty(n, dtype=np.uint16), 0
    for i in range(n):
        p = (p * 5 + 3 + int(rng.integers(3))) % 128
        out[i] = p
    return out
np.save(f"{sys.argv[1]}/train_000000.npy", tokens(200_000))
np.save(f"{sys.argv[1]}/val_000000.npy", tokens(20_000))
EOF
  local args=(--config shakespeare_64x4 --data-dir "$work" --max-steps "${STEPS:-20}" --warmup-steps 2 --eval-interval 10
              --eval-steps 2 --log-interval 1 --gradient-accumulation-steps 2 --batch-size 16 --json)
  local local_out hosts_out
  local_out=$(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$tools/train-gpt" "${args[@]}" --checkpoints-dir "$work/local" --name run)
  hosts_out=$(ip netns exec $NS1 mpirun $(mpirun_options) -np 2 "$tools/train-gpt" "${args[@]}" --checkpoints-dir "$work/hosts" --name run)
  for f in model.safetensors resume/model.safetensors resume/optimizer.safetensors; do
    cmp -s "$work/local/run/$f" "$work/hosts/run/$f" || { echo "netns-hosts: $f differs between the local and the two-namespace job" >&2; exit 1; }
  done
  diff <(sed 's/ | dt .*//' "$work/local/run/train.log") <(sed 's/ | dt .*//' "$work/hosts/run/train.log") > /dev/null \
    || { echo "netns-hosts: train.log differs" >&2; exit 1; }
  cmp -s "$work/local/run/eval.log" "$work/hosts/run/eval.log" || { echo "netns-hosts: eval.log differs" >&2; exit 1; }
  python3 - "$local_out" "$hosts_out" << 'EOF'
import json, sys
for label, text in zip(["local 2 ranks", "2 namespaces"], sys.argv[1:]):
    r = json.loads(text)
    print(f"{label}: {r['steps']} steps in {r['seconds']:.1f} s")
EOF
  echo "netns-hosts: the 2-rank job across $NS1 and $NS2 wrote the same checkpoint, resume state and logs as on one host" >&2
  rm -rf "$work"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  run) shift; exec ip netns exec $NS1 "$@" ;;
  mpirun-options) mpirun_options ;;
  check) shift; check "$@" ;;
  *) echo "usage: $0 up|down|run CMD…|mpirun-options|check [tools dir]" >&2; exit 2 ;;
esac
