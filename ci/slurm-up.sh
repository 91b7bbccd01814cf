#!/usr/bin/env bash
# Start a private single-node Slurm (Debian's Slurm 22.05 + munge) with one fake GPU.
#
# Used by tests/test_slurm.py and by anyone who wants to try `snakemake --profile slurm` on one
# machine. Installs slurmctld, slurmd, slurm-client and munge with apt-get when they are missing,
# writes every file into a private directory (only a link /etc/slurm/slurm.conf to its config, when none exists, removed by slurm-down.sh), starts munged,
# slurmctld and slurmd, waits until the node is idle, and records the PIDs it started in
# $DIR/pids so that ci/slurm-down.sh stops exactly those. Running it again while that Slurm is up
# does nothing. Needs root (apt-get, a munge daemon under the munge user, slurmd as root).
#
# After it, point Slurm's clients at the private configuration:
#     source "${PATCHCORE_SLURM_DIR:-/tmp/patchcore-slurm}/env.sh"   # exports SLURM_CONF
#
# Environment:
#   PATCHCORE_SLURM_DIR      private directory (default /tmp/patchcore-slurm)
#   PATCHCORE_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 300)
#   PATCHCORE_SLURM_CPUS     CPUs the node announces (default: max(real, 16))
#   PATCHCORE_SLURM_MEM_MB   memory the node announces (default: max(real, 65536))
#   PATCHCORE_SLURMCTLD_PORT / PATCHCORE_SLURMD_PORT  (default 6817 / 6818)
#   PATCHCORE_SLURM_MIN_JOB_AGE  seconds a finished job's record is kept (default 86400)
# The node announces at least 16 CPUs and 64 GB (SlurmdParameters=config_overrides) so that the
# requests of slurm/config.yaml, sized for a real GPU node, are accepted unchanged; nothing
# binds or limits them here (task/none, no cgroups), so the tiny test jobs simply run.
set -euo pipefail

dir=${PATCHCORE_SLURM_DIR:-/tmp/patchcore-slurm}
timeout_s=${PATCHCORE_SLURM_TIMEOUT:-300}
ctld_port=${PATCHCORE_SLURMCTLD_PORT:-6817}
slurmd_port=${PATCHCORE_SLURMD_PORT:-6818}
min_job_age=${PATCHCORE_SLURM_MIN_JOB_AGE:-86400}
partition=main

die() { echo "slurm-up: $*" >&2; exit 1; }
log_tail() {  # print the end of each daemon log, for failures
  for f in "$dir"/log/*.log "$dir"/munge/munged.log; do
    [ -s "$f" ] && { echo "---- tail of $f" >&2; tail -n 25 "$f" >&2; }
  done
  return 0
}

# Is the process recorded as "name pid" alive and still that program (not a reused PID)?
alive() { [ -r "/proc/$2/comm" ] && [ "$(cat "/proc/$2/comm")" = "$1" ]; }
all_alive() {
  [ -s "$dir/pids" ] || return 1
  local name pid
  while read -r name pid; do alive "$name" "$pid" || return 1; done < "$dir/pids"
}

[ "$(id -u)" = 0 ] || die "needs root (installs packages, runs munged as user munge and slurmd as root); current uid is $(id -u)"

# 0. Already up? Then nothing to do.
if all_alive && SLURM_CONF=$dir/etc/slurm.conf timeout 10 scontrol ping >/dev/null 2>&1; then
  echo "slurm-up: already up (SLURM_CONF=$dir/etc/slurm.conf)"
  exit 0
fi
if [ -s "$dir/pids" ]; then   # a partial or stale start: stop what is left of it first
  echo "slurm-up: a previous start in $dir is incomplete; stopping it"
  PATCHCORE_SLURM_DIR=$dir bash "$(dirname "$0")/slurm-down.sh"
fi

# 1. Install the packages when missing (Debian; apt-get update once, noninteractive).
need_install=0
for cmd in slurmctld slurmd sbatch squeue scontrol sinfo munged; do
  command -v "$cmd" >/dev/null || need_install=1
done
if [ "$need_install" = 1 ]; then
  command -v apt-get >/dev/null || die "Slurm is not installed and apt-get is missing: install slurmctld, slurmd, slurm-client and munge by hand"
  echo "slurm-up: installing slurmctld slurmd slurm-client munge with apt-get"
  # Keep the packages' init scripts from starting system daemons we would not own.
  policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  ok=1
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge; } >"/tmp/patchcore-slurm-apt.log" 2>&1 || ok=0
  [ "$made_policy" = 1 ] && rm -f "$policy"
  [ "$ok" = 1 ] || { tail -n 30 /tmp/patchcore-slurm-apt.log >&2; die "apt-get install failed (log: /tmp/patchcore-slurm-apt.log)"; }
fi
id munge >/dev/null 2>&1 || die "user 'munge' is missing (the munge package creates it)"

# 2. Private directory: munge key (owned by munge, mode 0400), a fake GPU device, configuration.
rm -rf "$dir/etc" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge" "$dir/dev"
mkdir -p "$dir"/{etc,state,spool,log,run,dev,munge}
chmod 755 "$dir"
chown munge:munge "$dir/munge"; chmod 755 "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chown munge:munge "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
# The GPU is a character device node (major 195 is NVIDIA's); slurmd only stats it.
mknod "$dir/dev/nvidia0" c 195 0

host=$(hostname -s)
real=$(slurmd -C 2>/dev/null | head -n 1) || true
real_cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$real")
real_mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$real")
cpus=${PATCHCORE_SLURM_CPUS:-$(( ${real_cpus:-1} > 16 ? ${real_cpus:-1} : 16 ))}
mem=${PATCHCORE_SLURM_MEM_MB:-$(( ${real_mem:-1} > 65536 ? ${real_mem:-1} : 65536 ))}
sock=$dir/munge/munge.socket

cat > "$dir/etc/slurm.conf" <<EOF
# Written by ci/slurm-up.sh: a private single-node Slurm with one fake GPU.
ClusterName=patchcore
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
# Keep finished jobs' records (squeue, the executor's status command; scontrol show job, which
# the tests read after a workflow ends) for a day, far longer than any test run however slow the
# machine: Slurm's default of 300 s purged them before a loaded machine's test got to read them.
MinJobAge=$min_job_age
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 Features=patchcore State=UNKNOWN
PartitionName=$partition Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=$host Name=gpu File=$dir/dev/nvidia0" > "$dir/etc/gres.conf"
printf 'export SLURM_CONF=%s\n' "$dir/etc/slurm.conf" > "$dir/env.sh"
# Snakemake's job step (snakemake-executor-plugin-slurm-jobstep) clears SLURM_CONF before its
# nested srun, which then reads the default /etc/slurm/slurm.conf: link ours there when that
# file is absent (slurm-down.sh removes the link), and say so when another one is in the way.
etc_conf=/etc/slurm/slurm.conf
if [ -L "$etc_conf" ] && [ "$(readlink "$etc_conf")" = "$dir/etc/slurm.conf" ]; then
  echo "$etc_conf" > "$dir/links"
elif [ ! -e "$etc_conf" ] && [ ! -L "$etc_conf" ]; then
  mkdir -p /etc/slurm && ln -s "$dir/etc/slurm.conf" "$etc_conf" && echo "$etc_conf" > "$dir/links"
else
  echo "slurm-up: warning: $etc_conf exists and is not ours; srun inside Snakemake's jobs will read it, not $dir/etc/slurm.conf" >&2
fi
export SLURM_CONF=$dir/etc/slurm.conf

# 3. Start the daemons (each daemonizes and writes its PID file); record each PID at once.
: > "$dir/pids"
record() {  # record NAME PIDFILE: wait up to 60 s for the PID file, then append "NAME PID"
  local i
  for i in $(seq 600); do
    if [ -s "$2" ] && alive "$1" "$(cat "$2")"; then echo "$1 $(cat "$2")" >> "$dir/pids"; return 0; fi
    sleep 0.1
  done
  log_tail; die "$1 did not start (see the log above, and $dir/log/)"
}
runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$sock" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" \
  || { log_tail; die "munged failed to start"; }
record munged "$dir/munge/munged.pid"
slurmctld -c -f "$dir/etc/slurm.conf" || { log_tail; die "slurmctld failed to start"; }
record slurmctld "$dir/run/slurmctld.pid"
slurmd -f "$dir/etc/slurm.conf" -N "$host" || { log_tail; die "slurmd failed to start"; }
record slurmd "$dir/run/slurmd.pid"

# 4. Wait until the node is idle (each query bounded, the whole wait too); a daemon that dies
#    meanwhile (e.g. a fatal configuration error) ends the wait at once with its log.
state= deadline=$(( SECONDS + timeout_s ))
while [ "$SECONDS" -lt "$deadline" ]; do
  all_alive || { log_tail; die "a daemon exited during start-up (see the log above); stop the rest with ci/slurm-down.sh"; }
  state=$(timeout 5 sinfo -h -N -n "$host" -o %T 2>/dev/null | head -n 1) || state=
  [ "$state" = idle ] && break
  sleep 0.5
done
if [ "$state" != idle ]; then
  timeout 5 sinfo -R >&2 || true
  log_tail
  die "node $host is '${state:-unknown}', not idle, after ${timeout_s} s; stop with ci/slurm-down.sh"
fi
echo "slurm-up: node $host idle (partition $partition, 1 fake GPU); export SLURM_CONF=$SLURM_CONF"
