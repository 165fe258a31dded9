#!/usr/bin/env bash
# A real single-node SLURM on localhost for the cluster tests (Debian's slurmctld, slurmd,
# slurm-client, munge). Idempotent: a second call only checks that the daemons answer (~1 s).
#
# Exit status: 0 ready; 3 only where this machine cannot have SLURM at all (not root, no apt-get),
# which the tests turn into a skip with this script's message; anything else is a real failure that
# stops CI: a failed package install (no network, a broken mirror), a daemon that does not come up.
set -euo pipefail

say() { echo "setup_slurm: $*" >&2; }
unavailable() { say "unavailable: $*"; exit 3; }
fail() { say "failed: $*"; exit 1; }
# A step that happens to exit 3 must not read as "unavailable" (a skip): any failure here is status 1.
trap 'status=$?; if ((status == 3)); then say "a step failed with status 3"; exit 1; fi' ERR
log=${TMPDIR:-/tmp}/setup_slurm_apt.log

[[ $(id -u) -eq 0 ]] || unavailable "needs root (installs packages and starts daemons)"

host=$(hostname -s)
conf=/etc/slurm/slurm.conf

ready() {
    command -v sinfo >/dev/null && scontrol ping 2>/dev/null | grep -q UP \
        && sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}
if [[ -f $conf ]] && ready; then
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || unavailable "no apt-get to install slurmctld, slurmd, slurm-client, munge"
    export DEBIAN_FRONTEND=noninteractive
    packages=(slurmctld slurmd slurm-client munge)
    if ! apt-get install -y -q "${packages[@]}" >"$log" 2>&1; then
        apt-get update -q >>"$log" 2>&1 || true
        apt-get install -y -q "${packages[@]}" >>"$log" 2>&1 \
            || fail "apt-get install ${packages[*]} failed: $(tail -n 3 "$log" | tr '\n' ' ')(see $log)"
    fi
    for daemon in slurmctld slurmd sbatch munged; do
        command -v "$daemon" >/dev/null || fail "apt-get installed the packages but $daemon is not on PATH"
    done
fi

# munge: a key and a running munged.
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || fail "munged did not come up (see /var/log/munge)"
fi

# slurm.conf: one node (this host, all its cores), one default partition, no accounting.
cpus=$(nproc)
mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
wanted=$(cat <<EOF
# Written by seqlab's .ci/setup_slurm.sh: a single-node test cluster on localhost.
ClusterName=seqlab-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
KillWait=10
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
)
restart=0
if [[ ! -f $conf ]] || [[ "$(cat "$conf")" != "$wanted" ]]; then
    printf '%s\n' "$wanted" >"$conf"
    restart=1
fi

daemon_running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ((restart)) && daemon_running /run/slurmctld.pid; then
    scontrol reconfigure || true
fi
daemon_running /run/slurmctld.pid || slurmctld || fail "slurmctld did not start (see /var/log/slurm)"
daemon_running /run/slurmd.pid || slurmd || fail "slurmd did not start (see /var/log/slurm)"

for _ in $(seq 100); do
    if ready; then
        exit 0
    fi
    # A node that was down (an earlier slurmd died) comes back once told so.
    if sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(down|drain)'; then
        scontrol update nodename="$host" state=resume 2>/dev/null || true
    fi
    sleep 0.2
done
say "slurmctld/slurmd started but the node is not idle: $(sinfo -N 2>&1 | tail -n +2)"
exit 1
