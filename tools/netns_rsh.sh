#!/usr/bin/env bash
# Remote-shell agent for Open MPI on the simulated hosts of tools/netns_hosts.sh:
#
#   mpirun --mca plm_rsh_agent tools/netns_rsh.sh ...      (tools/netns_hosts.sh run does this)
#
# Open MPI's rsh launcher starts a daemon on each remote host by running the agent as ssh would
# be run: "AGENT [OPTIONS] [USER@]HOST [-p PORT] WORD...", the words forming one shell command
# (it adds -x, no X11 forwarding, only when the agent is named ssh). Like ssh, this agent joins
# the words with spaces and hands them to a shell, but "remote" is a network namespace: HOST,
# as written in the host file (10.77.0.(i+1), or the namespace name ctnn-hI), selects host i,
# and the command runs there through "netns_hosts.sh exec" (network namespace, host name
# ctnn-hI, TMPDIR). The environment is passed through, which carries OMPI_ALLOW_RUN_AS_ROOT*
# from mpirun to the daemons.

set -euo pipefail

readonly PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

die() {
  echo "$PROG: error: $*" >&2
  exit 255  # ssh's status for its own failures
}

# ssh's options: skip them, with the argument of those that take one.
while (($#)); do
  case $1 in
    --)
      shift
      break
      ;;
    -[BbcDEeFIiJLlmOopQRSWw])  # option and argument in separate words
      (($# >= 2)) || die "option $1 needs an argument"
      shift 2
      ;;
    -[1246AaCfGgKkMNnqsTtVvXxYyBbcDEeFIiJLlmOopQRSWw]*)  # flags, or option with its argument
      shift
      ;;
    -*) die "unknown option '$1'" ;;
    *) break ;;
  esac
done
(($#)) || die "usage: $PROG [SSH-OPTIONS] HOST COMMAND..."
host=${1##*@}  # a user name, if any, is irrelevant: every host is this machine
shift
if [[ ${1-} == -p ]]; then  # Open MPI puts a node's port after the host name
  shift 2 || die "option -p needs an argument"
fi
(($#)) || die "no command for host '$host' (an interactive login is not supported)"

case $host in
  10.77.0.*)
    last=${host##*.}
    if ! [[ $last =~ ^[0-9]+$ ]] || ((last < 1)); then
      die "unknown host '$host'"
    fi
    index=$((last - 1))
    ;;
  ctnn-h[0-9]*)
    index=${host#ctnn-h}
    [[ $index =~ ^[0-9]+$ ]] || die "unknown host '$host'"
    ;;
  *) die "unknown host '$host' (expected 10.77.0.N or ctnn-hN)" ;;
esac

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# "$*" joins the words with single spaces, as ssh does before the remote shell parses them.
exec "$HERE/netns_hosts.sh" exec "$index" -- /bin/sh -c "$*"
