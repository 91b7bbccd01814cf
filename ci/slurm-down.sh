#!/usr/bin/env bash
# Stop the Slurm started by ci/slurm-up.sh: exactly the PIDs it recorded in $DIR/pids, nothing
# else. A recorded PID that now belongs to another program (reused) is left alone.
#
# Environment: PATCHCORE_SLURM_DIR (default /tmp/patchcore-slurm).
set -uo pipefail

dir=${PATCHCORE_SLURM_DIR:-/tmp/patchcore-slurm}
[ -s "$dir/pids" ] || { echo "slurm-down: nothing recorded in $dir/pids; nothing to stop"; exit 0; }

alive() { [ -r "/proc/$2/comm" ] && [ "$(cat "/proc/$2/comm")" = "$1" ]; }

# Cancel the jobs still in this private Slurm, so no slurmstepd outlives its slurmd.
conf=$dir/etc/slurm.conf
if [ -r "$conf" ] && ids=$(SLURM_CONF=$conf timeout 10 squeue -h -o %i 2>/dev/null) && [ -n "$ids" ]; then
  SLURM_CONF=$conf timeout 10 scancel $ids 2>/dev/null && sleep 1
fi

# Stop in reverse start order (slurmd, slurmctld, munged): TERM, wait up to 10 s, then KILL.
tac "$dir/pids" | while read -r name pid; do
  alive "$name" "$pid" || continue
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do alive "$name" "$pid" || break; sleep 0.1; done
  if alive "$name" "$pid"; then
    echo "slurm-down: $name ($pid) ignored TERM; killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  echo "slurm-down: stopped $name ($pid)"
done
rm -f "$dir/pids"

# Remove the /etc/slurm/slurm.conf link slurm-up.sh made, if it still points at our file.
if [ -s "$dir/links" ]; then
  while read -r link; do
    [ -L "$link" ] && [ "$(readlink "$link")" = "$dir/etc/slurm.conf" ] && rm -f "$link" \
      && echo "slurm-down: removed link $link"
  done < "$dir/links"
  rm -f "$dir/links"
fi
