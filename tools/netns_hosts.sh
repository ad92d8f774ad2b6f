#!/usr/bin/env bash
# Simulated test hosts on one machine, for running distributed (MPI) jobs over a real TCP network
# path with a chosen link speed.
#
# Each host is a Linux network namespace, ctnn-h0 .. ctnn-h(N-1), with its own loopback and one
# interface, eth0, holding 10.77.0.(i+1)/24. The other end of every host's veth pair sits in a
# switch namespace, ctnn-sw, as a port (p0 .. p(N-1)) of the bridge br0. Every interface is
# created inside a host namespace and one end is then moved to the switch, so the root namespace
# gains no interface, address or route, and no packet can leave the machine.
#
# Link speed: this kernel has no netem, fq, fq_codel or cake qdisc (tc answers "Specified qdisc
# kind is unknown") and cannot load modules, so delay and loss cannot be emulated. The rate is
# limited with tbf, on both ends of each host link: the host's eth0 (its sending direction) and
# the switch's port (its receiving direction). A transfer between two hosts therefore crosses a
# limit in each direction, as between two machines on a switch with links of that speed.
#
# Open MPI starts its daemons with a remote-shell agent; tools/netns_rsh.sh is that agent: it maps
# the host named in the host file (10.77.0.(i+1)) to its namespace and runs the daemon there.
# mpirun itself runs in ctnn-h0. Each host also gets its own host name (a UTS namespace created
# per command) and its own TMPDIR, so Open MPI sees N distinct nodes, keeps their session
# directories apart, and the processes of different hosts talk only TCP over the veth links.
#
# Needs root, iproute2 (ip, tc), unshare (util-linux); python3 for "check"; Open MPI for "run".

set -euo pipefail

readonly PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly NS_PREFIX=ctnn-h            # host namespaces: ctnn-h0, ctnn-h1, ...
readonly NS_SWITCH=ctnn-sw           # the namespace holding the bridge
readonly SUBNET=10.77.0              # host i is $SUBNET.(i+1)
readonly SUBNET_CIDR=10.77.0.0/24
readonly STATE_DIR=/tmp/ctnn-netns   # host file, current rate, one TMPDIR per host
readonly MAX_HOSTS=253               # .1 .. .253; .254 and .255 stay free
readonly CHECK_PORT=5201

usage() {
  cat <<EOF
usage: $PROG COMMAND [ARGS]

Simulated test hosts on this machine (network namespaces joined by a bridge), for MPI jobs.

  up N [RATE]          create hosts ctnn-h0 .. ctnn-h(N-1) (N >= 2), host i at $SUBNET.(i+1),
                       all on one switch; RATE (e.g. 100mbit, 1gbit, 10gbit) limits every host
                       link in both directions (tbf). Removes any previous setup first.
  rate RATE|off        change (or remove) the limit on every link
  run N [MPIRUN-OPTIONS] -- PROGRAM [ARGS]
                       run PROGRAM on hosts 0 .. N-1, one process per host, with mpirun started
                       in ctnn-h0 and MPI restricted to TCP over $SUBNET_CIDR; the mpirun
                       command is printed first; mpirun's exit status is returned
  exec I -- COMMAND [ARGS]
                       run COMMAND on host I (its network, host name ctnn-hI and TMPDIR)
  check [MB]           ping between the hosts, then time MB megabytes (default 200) over TCP
                       from ctnn-h0 to ctnn-h1 and back, printing MB/s
  down                 remove every namespace, interface and file this script created
  help                 this text

RATE is a tc rate: a number followed by bit, kbit, mbit, gbit, tbit (bits per second, SI
prefixes) or bps, kbps, mbps, gbps, tbps (bytes per second). Delay and loss are not emulated:
this kernel has no netem qdisc.

Example:
  $PROG up 2 1gbit && $PROG check
  $PROG run 2 -- build/release/examples/fashion_mnist_cnn --distributed --threads 1
  $PROG down
EOF
}

die() {
  echo "$PROG: error: $*" >&2
  exit 1
}

note() {
  echo "$PROG: $*"
}

need_root() {
  [[ $EUID -eq 0 ]] || die "must run as root (network namespaces and tc need CAP_NET_ADMIN)"
}

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
  done
}

is_uint() {
  [[ $1 =~ ^[0-9]+$ ]]
}

# Prints how many host namespaces exist.
host_count() {
  ip netns list | awk -v p="$NS_PREFIX" '$1 ~ "^" p "[0-9]+$" { n++ } END { print n + 0 }'
}

# Checks that hosts 0 .. n-1 exist and prints n, the number of hosts.
require_hosts() {
  local n i
  n=$(host_count)
  ((n > 0)) || die "no hosts: run '$PROG up N' first"
  for ((i = 0; i < n; i++)); do
    ip netns list | awk '{ print $1 }' | grep -qx "$NS_PREFIX$i" ||
      die "host namespace $NS_PREFIX$i is missing; run '$PROG up N' again"
  done
  echo "$n"
}

# ---------------------------------------------------------------------------------------------
# Rate limit

# Parses a tc rate and prints "RATE BYTES_PER_SECOND"; dies on anything tc would not read alike.
parse_rate() {
  local rate=${1,,}
  [[ $rate =~ ^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$ ]] ||
    die "bad rate '$1' (expected e.g. 100mbit, 1gbit, 10gbit or off)"
  local bytes
  bytes=$(awk -v v="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
    m["bit"] = 1 / 8; m["kbit"] = 1e3 / 8; m["mbit"] = 1e6 / 8; m["gbit"] = 1e9 / 8
    m["tbit"] = 1e12 / 8; m["bps"] = 1; m["kbps"] = 1e3; m["mbps"] = 1e6; m["gbps"] = 1e9
    m["tbps"] = 1e12
    printf "%.0f", v * m[u] }')
  ((bytes >= 1000)) || die "rate '$1' is too low (at least 8kbit)"
  echo "$rate $bytes"
}

# Sets the tbf limit on one interface (RATE and its bytes per second), or removes it ("off").
shape_dev() {
  local ns=$1 dev=$2 rate=$3 bytes=${4:-0}
  if [[ $rate == off ]]; then
    # Deleting a root qdisc that was never added fails, so look first.
    if tc -n "$ns" qdisc show dev "$dev" | grep -q '^qdisc tbf'; then
      tc -n "$ns" qdisc del dev "$dev" root
    fi
    return
  fi
  # The bucket must hold a whole GSO packet (up to 64 KiB on veth: a larger packet would be
  # split by tbf) and several timer ticks of traffic, or the achieved rate falls short of the
  # limit; 5 ms of traffic, at least 128 KiB, does both. "latency" bounds the queue at 50 ms of
  # traffic, enough to keep a single TCP stream at the full rate.
  local burst=$((bytes / 200))
  ((burst >= 131072)) || burst=131072
  tc -n "$ns" qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 50ms
}

# Applies RATE (or off) to both ends of the links of hosts 0 .. n-1.
shape_all() {
  local n=$1 rate=$2 bytes=0 parsed i
  if [[ $rate != off ]]; then
    parsed=$(parse_rate "$rate")
    read -r rate bytes <<<"$parsed"
  fi
  for ((i = 0; i < n; i++)); do
    shape_dev "$NS_PREFIX$i" eth0 "$rate" "$bytes"
    shape_dev "$NS_SWITCH" "p$i" "$rate" "$bytes"
  done
  mkdir -p "$STATE_DIR"
  echo "$rate" >"$STATE_DIR/rate"
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_down() {
  local ns pids=() found=0
  for ns in $(ip netns list | awk -v p="$NS_PREFIX" -v s="$NS_SWITCH" \
    '$1 ~ "^" p "[0-9]+$" || $1 == s { print $1 }'); do
    found=1
    # A namespace that still holds processes outlives "ip netns del" (with its interfaces), so
    # stop what still runs there: daemons or programs left by an interrupted job.
    mapfile -t pids < <(ip netns pids "$ns" | grep -vx "$$" || true)
    if ((${#pids[@]})); then
      note "stopping ${#pids[@]} process(es) still running in $ns: ${pids[*]}"
      kill -TERM "${pids[@]}" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        ip netns pids "$ns" | grep -qvx "$$" || break
        sleep 0.2
      done
      mapfile -t pids < <(ip netns pids "$ns" | grep -vx "$$" || true)
      ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    # Deleting a namespace destroys its interfaces; a veth destroyed on one end takes its peer.
    ip netns del "$ns"
  done
  rm -rf "$STATE_DIR"
  if ((found)); then note "removed the simulated hosts"; else note "nothing to remove"; fi
}

cmd_up() {
  (($# >= 1 && $# <= 2)) || die "usage: $PROG up N [RATE]"
  local n=$1 rate=${2:-off} i
  if ! is_uint "$n" || ((n < 2 || n > MAX_HOSTS)); then
    die "N must be 2 .. $MAX_HOSTS, not '$n'"
  fi
  [[ $rate == off ]] || parse_rate "$rate" >/dev/null  # reject a bad rate before changing anything
  need_tools tc

  cmd_down >/dev/null
  # A failure half way (set -e exits from any depth, through the EXIT trap) would leave a partial
  # network behind; take it down again.
  trap 'echo "$PROG: error: up failed; removing the partial setup" >&2; cmd_down >/dev/null' EXIT

  ip netns add "$NS_SWITCH"
  ip -n "$NS_SWITCH" link set lo up
  # No STP (the default): ports forward at once instead of after the listening delay.
  ip -n "$NS_SWITCH" link add br0 type bridge
  ip -n "$NS_SWITCH" link set br0 up

  for ((i = 0; i < n; i++)); do
    local ns=$NS_PREFIX$i
    ip netns add "$ns"
    # Open MPI and programs bind to and probe 127.0.0.1; a new namespace has lo down.
    ip -n "$ns" link set lo up
    # Created inside the host's namespace, so the pair never appears in the root namespace.
    ip -n "$ns" link add eth0 type veth peer name "p$i"
    ip -n "$ns" link set "p$i" netns "$NS_SWITCH"
    ip -n "$NS_SWITCH" link set "p$i" master br0
    ip -n "$NS_SWITCH" link set "p$i" up
    ip -n "$ns" addr add "$SUBNET.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  mkdir -p "$STATE_DIR"
  shape_all "$n" "$rate"
  trap - EXIT

  note "$n hosts up: $NS_PREFIX""0 .. $NS_PREFIX$((n - 1)) at $SUBNET.1 .. $SUBNET.$n," \
    "link rate: $rate"
}

cmd_rate() {
  (($# == 1)) || die "usage: $PROG rate RATE|off"
  need_tools tc
  local n
  n=$(require_hosts)
  shape_all "$n" "$1"
  note "link rate on $n hosts: $(cat "$STATE_DIR/rate")"
}

# Replaces this shell with a command on host i: in its network namespace, under the host name
# ctnn-hI (a new UTS namespace, since all network namespaces share the machine's host name) and
# with its own TMPDIR (Open MPI's session directories are named after the host name and would
# otherwise mix). Replacing, not forking, keeps one process chain from the caller down to the
# command: a signal that Open MPI sends to its agent reaches it, and its exit status is ours.
in_host() {
  local i=$1
  shift
  local ns=$NS_PREFIX$i tmp=$STATE_DIR/tmp/h$i
  mkdir -p "$tmp"
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's
  TMPDIR=$tmp exec ip netns exec "$ns" unshare --uts -- \
    /bin/sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

cmd_exec() {
  if (($# < 3)) || [[ $2 != -- ]]; then
    die "usage: $PROG exec I -- COMMAND [ARGS]"
  fi
  local i=$1 n
  shift 2
  need_tools unshare
  n=$(require_hosts)
  if ! is_uint "$i" || ((i >= n)); then
    die "no host '$i' (hosts are 0 .. $((n - 1)))"
  fi
  in_host "$i" "$@"
}

cmd_run() {
  (($# >= 1)) || die "usage: $PROG run N [MPIRUN-OPTIONS] -- PROGRAM [ARGS]"
  local np=$1 n
  shift
  local opts=()
  while (($#)) && [[ $1 != -- ]]; do
    opts+=("$1")
    shift
  done
  (($# >= 2)) || die "usage: $PROG run N [MPIRUN-OPTIONS] -- PROGRAM [ARGS]"
  shift
  need_tools mpirun unshare
  n=$(require_hosts)
  if ! is_uint "$np" || ((np < 1 || np > n)); then
    die "N must be 1 .. $n (the number of hosts)"
  fi

  local hostfile=$STATE_DIR/hostfile i
  mkdir -p "$STATE_DIR"
  for ((i = 0; i < np; i++)); do
    echo "$SUBNET.$((i + 1)) slots=1"
  done >"$hostfile"

  # - plm_rsh_agent: start the daemons of hosts 1 .. N-1 in their namespaces (see netns_rsh.sh).
  # - pml ob1 with btl tcp,self: no shared-memory transport (vader) and no UCX, which would
  #   bypass the network between processes of one machine; only TCP remains.
  # - *_if_include: the MPI traffic and Open MPI's own (daemons, wire-up) use the test subnet.
  # - --bind-to none: each "host" would bind its process to its first core, the same core of
  #   this machine for all of them.
  # - OMPI_ALLOW_RUN_AS_ROOT*: Open MPI refuses root without them; mpirun passes its environment
  #   to the agent and so to the daemons, and -x passes them on to the programs.
  # shellcheck disable=SC2054  # "tcp,self" is one word
  local cmd=(mpirun -np "$np" --hostfile "$hostfile" --map-by node --bind-to none
    --mca plm rsh --mca plm_rsh_agent "$HERE/netns_rsh.sh"
    --mca pml ob1 --mca btl tcp,self
    --mca btl_tcp_if_include "$SUBNET_CIDR" --mca oob_tcp_if_include "$SUBNET_CIDR"
    -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
    "${opts[@]}" "$@")
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  local line=OMPI_ALLOW_RUN_AS_ROOT=1\ OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 word
  for word in "${cmd[@]}"; do
    # Quote only the words that need it, so the line reads as typed and can be pasted.
    if [[ $word =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then line+=" $word"; else line+=" ${word@Q}"; fi
  done
  echo "+ (in $NS_PREFIX""0, link rate $(cat "$STATE_DIR/rate" 2>/dev/null || echo off)) $line"
  in_host 0 "${cmd[@]}"
}

# ICMP echo (there is no ping binary here) and a timed TCP transfer, Python standard library only.
IFS= read -r -d '' NETPY <<'PYEOF' || true
import os, socket, struct, sys, time

def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

def ping(dst, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident, payload, rtts = os.getpid() & 0xFFFF, b"ctnn" * 14, []
    for seq in range(count):
        head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload
        start = time.perf_counter()
        sock.sendto(packet, (dst, 0))
        while True:
            left = start + 1.0 - time.perf_counter()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data, addr = sock.recvfrom(2048)
            except socket.timeout:
                break
            ihl = (data[0] & 15) * 4
            kind, _, _, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind == 0 and rid == ident and rseq == seq and addr[0] == dst:
                rtts.append((time.perf_counter() - start) * 1e3)
                break
    if not rtts:
        print("no reply from %s" % dst)
        return 1
    print("%d/%d replies from %s, rtt min/avg/max %.3f/%.3f/%.3f ms" % (
        len(rtts), count, dst, min(rtts), sum(rtts) / len(rtts), max(rtts)))
    return 0 if len(rtts) == count else 1

def serve(ip, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ip, port))
    listener.listen(1)
    listener.settimeout(30)
    conn, _ = listener.accept()
    conn.settimeout(120)
    buf, total = bytearray(1 << 20), 0
    while True:
        k = conn.recv_into(buf)
        if not k:
            break
        total += k
    conn.sendall(struct.pack("!Q", total))  # the sender stops its clock on this reply
    conn.close()
    return 0

def send(ip, port, mb):
    deadline = time.monotonic() + 10
    while True:  # the receiver is started just before and may not listen yet
        try:
            sock = socket.create_connection((ip, port), timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    sock.settimeout(120)
    chunk, total, sent = memoryview(bytes(1 << 20)), mb * 1000000, 0
    start = time.perf_counter()
    while sent < total:
        k = min(len(chunk), total - sent)
        sock.sendall(chunk[:k])
        sent += k
    sock.shutdown(socket.SHUT_WR)
    reply = b""
    while len(reply) < 8:
        part = sock.recv(8 - len(reply))
        if not part:
            break
        reply += part
    seconds = time.perf_counter() - start
    received = struct.unpack("!Q", reply)[0] if len(reply) == 8 else -1
    if received != sent:
        print("receiver got %d of %d bytes" % (received, sent))
        return 1
    print("%d MB in %.2f s: %.1f MB/s (%.2f Gbit/s)" % (
        mb, seconds, sent / seconds / 1e6, sent * 8 / seconds / 1e9))
    return 0

mode, args = sys.argv[1], sys.argv[2:]
if mode == "ping":
    sys.exit(ping(args[0], int(args[1])))
if mode == "serve":
    sys.exit(serve(args[0], int(args[1])))
if mode == "send":
    sys.exit(send(args[0], int(args[1]), int(args[2])))
sys.exit("unknown mode " + mode)
PYEOF

# Times MB megabytes from host a to host b.
measure() {
  local a=$1 b=$2 mb=$3 py=$4 server rc=0
  printf '%s -> %s: ' "$NS_PREFIX$a" "$NS_PREFIX$b"
  ip netns exec "$NS_PREFIX$b" timeout 150 "$py" -c "$NETPY" serve "$SUBNET.$((b + 1))" \
    "$CHECK_PORT" &
  server=$!
  ip netns exec "$NS_PREFIX$a" timeout 150 "$py" -c "$NETPY" send "$SUBNET.$((b + 1))" \
    "$CHECK_PORT" "$mb" || rc=$?
  wait "$server" || rc=$?
  return "$rc"
}

cmd_check() {
  (($# <= 1)) || die "usage: $PROG check [MB]"
  local mb=${1:-200} n i py failed=0
  if ! is_uint "$mb" || ((mb < 1)); then
    die "MB must be a positive integer, not '$mb'"
  fi
  need_tools timeout
  # Debian's interpreter if present: a version manager's shim starts slowly and may not see its
  # configuration inside the namespaces.
  py=$(command -v /usr/bin/python3 || command -v python3) || die "'python3' not found"
  n=$(require_hosts)
  ((n >= 2)) || die "check needs at least 2 hosts"

  note "$n hosts, link rate: $(cat "$STATE_DIR/rate" 2>/dev/null || echo unknown)"
  for ((i = 0; i < n; i++)); do
    printf '  %s eth0: %s; switch port p%d: %s\n' "$NS_PREFIX$i" \
      "$(tc -n "$NS_PREFIX$i" qdisc show dev eth0 | head -n 1)" "$i" \
      "$(tc -n "$NS_SWITCH" qdisc show dev "p$i" | head -n 1)"
  done

  note "ping (ICMP echo) from every host to the next one and to $NS_PREFIX""0"
  for ((i = 0; i < n; i++)); do
    local j targets=($(((i + 1) % n)))
    ((i == 0 || targets[0] == 0)) || targets+=(0)
    for j in "${targets[@]}"; do
      printf '  %s -> %s: ' "$NS_PREFIX$i" "$NS_PREFIX$j"
      ip netns exec "$NS_PREFIX$i" "$py" -c "$NETPY" ping "$SUBNET.$((j + 1))" 3 || failed=1
    done
  done
  # The hosts must not reach anything but the test subnet.
  if ip netns exec "$NS_PREFIX""0" ip route get 1.1.1.1 >/dev/null 2>&1; then
    echo "  $NS_PREFIX""0 has a route out of $SUBNET_CIDR" >&2
    failed=1
  else
    echo "  $NS_PREFIX""0 has no route out of $SUBNET_CIDR (as intended)"
  fi

  note "TCP bandwidth, $mb MB each way (1 MB = 10^6 bytes)"
  printf '  '
  measure 0 1 "$mb" "$py" || failed=1
  printf '  '
  measure 1 0 "$mb" "$py" || failed=1

  ((failed == 0)) || die "check failed"
  note "check passed"
}

main() {
  (($#)) || {
    usage >&2
    exit 2
  }
  local sub=$1
  shift
  case $sub in
    help | -h | --help)
      usage
      return
      ;;
    up | down | rate | run | exec | check) ;;
    *)
      usage >&2
      die "unknown command '$sub'"
      ;;
  esac
  need_root
  need_tools ip
  case $sub in
    up) cmd_up "$@" ;;
    down)
      (($# == 0)) || die "usage: $PROG down"
      cmd_down
      ;;
    rate) cmd_rate "$@" ;;
    run) cmd_run "$@" ;;
    exec) cmd_exec "$@" ;;
    check) cmd_check "$@" ;;
  esac
}

main "$@"
