#!/usr/bin/env bash
# Run the workflow through profiles/slurm on a throwaway one-node SLURM cluster that
# has a fake GPU, then check what was submitted: GPU rules (the profile's
# set-resources entries with gpu >= 1) must ask SLURM for a GPU, all other rules must
# not, and every SLURM job must have completed.
#
# Usage (from anywhere; paths are taken relative to the current directory):
#   .ci/slurm_check.sh [SNAKEMAKE ARGS...]
#   .ci/slurm_check.sh --configfile config/test.yaml --directory /tmp/scrobin-slurm
#   .ci/slurm_check.sh --snakefile tests/cluster/Snakefile      # stand-in workflow
# Without --directory/-d the workflow runs in the cluster's temporary directory.
#
# Environment:
#   SLURM_CHECK_TIMEOUT  seconds snakemake may run (default 1200)
#   SLURM_CHECK_KEEP=1   keep the temporary directory (configs, daemon and snakemake
#                        logs) after a successful run; it is always kept on failure
#
# Needs root: installs slurm-wlm and munge from Debian when missing and runs munged,
# slurmctld and slurmd in the foreground (no systemd). Everything the cluster writes
# lives in one temporary directory, munged (own key) listens on a private socket, and
# the only file outside it is a symlink /etc/slurm/slurm.conf -> the temporary
# slurm.conf for the duration of the run (the check refuses to start when that path
# exists). The node has min(nproc, 3) fake GPUs. The daemons started here, and only
# those, are stopped by PID on exit, after cancelling jobs still on the cluster.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROFILE_DIR="$REPO_ROOT/profiles/slurm"
TIMEOUT_S=${SLURM_CHECK_TIMEOUT:-1200}
NODE_WAIT_S=60
DAEMON_STOP_WAIT_S=15

if [[ -x "$REPO_ROOT/.venv/bin/snakemake" ]]; then
    SNAKEMAKE="$REPO_ROOT/.venv/bin/snakemake"
else
    SNAKEMAKE=$(command -v snakemake) || { echo "slurm_check: no snakemake found (no .venv, none on PATH)" >&2; exit 2; }
fi
# The interpreter running snakemake: it has PyYAML, and SLURM jobs re-run it.
PYTHON=$(head -n 1 "$SNAKEMAKE" | sed -e 's/^#!//' -e 's/ .*//')
[[ -x "$PYTHON" ]] || PYTHON=$(command -v python3)

DEFAULT_SLURM_CONF=/etc/slurm/slurm.conf
STARTED_PIDS=()   # daemons started here, in start order
LINKED_DEFAULT_CONF=0
CLUSTER_DIR=""
GPU_RULES=""      # " rule1 rule2 ... ": the profile's GPU rules, space-delimited
CHECK_PASSED=0
SECONDS=0

log() { echo "[slurm_check $(printf '%4d' "$SECONDS")s] $*"; }
fail() { log "FAIL: $*"; exit 1; }

install_slurm() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

# Two distinct free TCP ports (both held open while asked, so they differ).
free_ports() {
    "$PYTHON" -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for sock in sockets:
    sock.bind(("", 0))
print(*(sock.getsockname()[1] for sock in sockets))'
}

write_cluster_config() {
    local host cpus detected_mb real_mb def_mem_per_cpu min_job_age gpu_count device_file slurmctld_port slurmd_port
    # Each fake GPU needs its own device file that exists everywhere; a count-only
    # gres.conf drains the node. More GPUs than CPUs would never all be busy.
    local gpu_device_files=(/dev/null /dev/zero /dev/full)
    host=$(hostname -s)
    cpus=$(nproc)
    detected_mb=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    [[ -n "$detected_mb" ]] || fail "could not read RealMemory from 'slurmd -C'"
    # slurmd marks the node invalid when it has less memory than configured.
    real_mb=$(( detected_mb * 9 / 10 ))
    # Without a per-CPU default a job that names no memory takes the whole node.
    def_mem_per_cpu=$(( real_mb / cpus < 1024 ? real_mb / cpus : 1024 ))
    # Finished jobs stay visible to squeue/scontrol for MinJobAge seconds: the plugin
    # polls with squeue and the final audit reads every job record, so keep them for
    # the whole run (and well above 3 x the profile's status-check delay).
    min_job_age=$(( TIMEOUT_S + 300 ))
    gpu_count=$(( cpus < ${#gpu_device_files[@]} ? cpus : ${#gpu_device_files[@]} ))

    read -r slurmctld_port slurmd_port < <(free_ports)
    mkdir -p "$CLUSTER_DIR"/{state,spool,munge}
    cat >"$CLUSTER_DIR/slurm.conf" <<EOF
ClusterName=scrobin-check
SlurmctldHost=$host
SlurmctldPort=$slurmctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$CLUSTER_DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$CLUSTER_DIR/state
SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmctldPidFile=$CLUSTER_DIR/slurmctld.pid
SlurmdPidFile=$CLUSTER_DIR/slurmd.pid
SlurmctldLogFile=$CLUSTER_DIR/slurmctld.log
SlurmdLogFile=$CLUSTER_DIR/slurmd.log
# No cgroups: the machine may have no systemd or delegated cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem_per_cpu
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=$min_job_age
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$real_mb Gres=gpu:$gpu_count State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    for device_file in "${gpu_device_files[@]:0:gpu_count}"; do
        echo "NodeName=$host Name=gpu File=$device_file"
    done >"$CLUSTER_DIR/gres.conf"
    export SLURM_CONF="$CLUSTER_DIR/slurm.conf"
    # Inside a job the slurm-jobstep plugin runs `srun` with every SLURM_* variable
    # removed, SLURM_CONF included, so srun only finds the default config path.
    [[ ! -e $DEFAULT_SLURM_CONF && ! -L $DEFAULT_SLURM_CONF ]] \
        || fail "$DEFAULT_SLURM_CONF exists: this machine has a SLURM setup (or another check is running); not touching it"
    mkdir -p "$(dirname "$DEFAULT_SLURM_CONF")"
    ln -s "$SLURM_CONF" "$DEFAULT_SLURM_CONF"
    LINKED_DEFAULT_CONF=1
}

start_daemon() {
    local name=$1
    shift
    "$@" >"$CLUSTER_DIR/$name.out" 2>&1 &
    STARTED_PIDS+=("$!")
    log "started $name (PID $!)"
}

start_cluster() {
    # munged refuses a key others can read and directories others can write, and
    # clients need to traverse the socket's directory.
    chown munge:munge "$CLUSTER_DIR/munge"
    chmod 0755 "$CLUSTER_DIR/munge"
    head -c 1024 /dev/urandom >"$CLUSTER_DIR/munge/munge.key"
    chown munge:munge "$CLUSTER_DIR/munge/munge.key"
    chmod 0400 "$CLUSTER_DIR/munge/munge.key"
    # setpriv execs munged itself, so the recorded PID is munged's.
    start_daemon munged setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground \
        --key-file="$CLUSTER_DIR/munge/munge.key" \
        --socket="$CLUSTER_DIR/munge/munge.socket" \
        --pid-file="$CLUSTER_DIR/munge/munged.pid" \
        --seed-file="$CLUSTER_DIR/munge/munged.seed" \
        --log-file="$CLUSTER_DIR/munge/munged.log"
    wait_for "munge socket" test -S "$CLUSTER_DIR/munge/munge.socket"
    start_daemon slurmctld slurmctld -D -f "$SLURM_CONF"
    start_daemon slurmd slurmd -D -f "$SLURM_CONF"
    wait_for "node idle" node_is_idle
}

node_is_idle() {
    [[ $(sinfo -h -N -o '%T' 2>/dev/null) == idle ]]
}

wait_for() {
    local what=$1
    shift
    local deadline=$(( SECONDS + NODE_WAIT_S ))
    until "$@"; do
        (( SECONDS < deadline )) || fail "$what not reached within ${NODE_WAIT_S}s (logs in $CLUSTER_DIR)"
        for pid in "${STARTED_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || fail "a daemon (PID $pid) died while waiting for $what (logs in $CLUSTER_DIR)"
        done
        sleep 0.5
    done
    log "$what"
}

stop_cluster() {
    local pid deadline i
    if (( ${#STARTED_PIDS[@]} >= 2 )) && kill -0 "${STARTED_PIDS[1]}" 2>/dev/null; then
        # Jobs left by a failed or timed-out run would keep running after slurmd stops.
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        deadline=$(( SECONDS + DAEMON_STOP_WAIT_S ))
        while [[ -n $(squeue -h -t running,completing -o %i 2>/dev/null) ]] && (( SECONDS < deadline )); do
            sleep 0.5
        done
    fi
    # Stop in reverse start order: slurmd, slurmctld, munged.
    for (( i = ${#STARTED_PIDS[@]} - 1; i >= 0; i-- )); do
        pid=${STARTED_PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        deadline=$(( SECONDS + DAEMON_STOP_WAIT_S ))
        while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

on_exit() {
    local exit_status=$?
    set +e
    stop_cluster
    if (( LINKED_DEFAULT_CONF )) && [[ $(readlink "$DEFAULT_SLURM_CONF") == "$SLURM_CONF" ]]; then
        rm -f "$DEFAULT_SLURM_CONF"
    fi
    if (( CHECK_PASSED )) && [[ ${SLURM_CHECK_KEEP:-0} != 1 ]]; then
        rm -rf "$CLUSTER_DIR"
    elif [[ -n "$CLUSTER_DIR" ]]; then
        log "cluster files kept in $CLUSTER_DIR"
    fi
    log "daemons stopped; total ${SECONDS}s"
    exit "$exit_status"
}

# Rules whose jobs must ask for a GPU: the profile's set-resources with gpu >= 1.
# (tests/cluster/test_slurm_profile.py reads the profile the same way.)
profile_gpu_rules() {
    "$PYTHON" - "$PROFILE_DIR/config.yaml" <<'EOF'
import sys

import yaml

with open(sys.argv[1]) as profile_file:
    profile = yaml.safe_load(profile_file)
for rule, resources in (profile.get("set-resources") or {}).items():
    if int(resources.get("gpu", 0)) >= 1:
        print(rule)
EOF
}

run_workflow() {
    local args=("$@") has_directory=0
    for arg in "${args[@]}"; do
        [[ $arg == --directory || $arg == --directory=* || $arg == -d ]] && has_directory=1
    done
    (( has_directory )) || args+=(--directory "$CLUSTER_DIR/work")
    log "running: $SNAKEMAKE --workflow-profile profiles/slurm ${args[*]}"
    # --verbose makes the plugin log every sbatch call; --max-threads keeps thread
    # requests within the one node's CPUs. Snakemake ignores SIGTERM while jobs run,
    # hence the kill after the grace period.
    set +e
    timeout -k 10 "$TIMEOUT_S" "$SNAKEMAKE" --workflow-profile "$PROFILE_DIR" \
        --max-threads "$(nproc)" --verbose "${args[@]}" 2>&1 \
        | tee "$CLUSTER_DIR/snakemake.log" \
        | grep --line-buffered -E '^(\[.*\]$|(local)?rule |Job [0-9]+ has been submitted|Finished jobid|[0-9]+ of [0-9]+ steps|Error|WorkflowError|Nothing to be done)'
    local statuses=("${PIPESTATUS[@]}")
    set -e
    if (( statuses[0] != 0 )); then
        tail -n 40 "$CLUSTER_DIR/snakemake.log"
        sbatch_calls | sed 's/^/    /'
        fail "snakemake exited with status ${statuses[0]} (124/137: timed out after ${TIMEOUT_S}s)"
    fi
}

# The sbatch lines the plugin logged, without the long --wrap'ed snakemake command.
sbatch_calls() {
    sed -n 's/.*sbatch call: //p' "$CLUSTER_DIR/snakemake.log" | sed 's/ --wrap=.*//'
}

# The plugin tags each job with the comment rule_<rule>[_wildcards_<values>].
rule_of_comment() {
    sed -n "s/.*\(Comment=\|--comment \)'\{0,1\}rule_\([A-Za-z0-9_]*\).*/\2/p" <<<"$1" | sed 's/_wildcards_.*//'
}

is_gpu_rule() {
    [[ $GPU_RULES == *" $1 "* ]]
}

check_sbatch_calls() {
    local call rule asks_for_gpu problems=0 gpu_calls=0
    log "GPU rules according to profiles/slurm:${GPU_RULES% }"
    log "sbatch calls submitted by the plugin:"
    while IFS= read -r call; do
        echo "    $call"
        rule=$(rule_of_comment "$call")
        asks_for_gpu=0
        [[ $call == *--gpus=* || $call == *--gres=gpu* ]] && asks_for_gpu=1
        is_gpu_rule "$rule" && gpu_calls=$(( gpu_calls + 1 ))
        if is_gpu_rule "$rule" && (( ! asks_for_gpu )); then
            log "rule $rule is a GPU rule but its sbatch call asks for no GPU"
            problems=$(( problems + 1 ))
        elif ! is_gpu_rule "$rule" && (( asks_for_gpu )); then
            log "rule $rule is not a GPU rule but its sbatch call asks for a GPU"
            problems=$(( problems + 1 ))
        fi
    done < <(sbatch_calls)
    [[ -n $(sbatch_calls) ]] || fail "no sbatch call found in the snakemake log (nothing to do, or the plugin's log format changed)"
    (( gpu_calls > 0 )) || fail "no job of a GPU rule was submitted, so the GPU request is untested"
    (( problems == 0 )) || fail "$problems sbatch call(s) with a wrong GPU request"
}

# One field of a `scontrol show job --oneliner` record.
job_field() {
    sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" <<<"$1"
}

# SLURM's own record of every job: all completed (a job that snakemake retried
# successfully still fails the check: flaky jobs should be seen), and a GPU granted
# exactly to the GPU rules.
check_job_records() {
    local record job_id state rule gpu_request start_time problems=0
    log "jobs as recorded by slurmctld:"
    while IFS= read -r record; do
        job_id=$(job_field "$record" JobId)
        state=$(job_field "$record" JobState)
        rule=$(rule_of_comment "$record")
        gpu_request=$(job_field "$record" TresPerJob)
        start_time=$(job_field "$record" StartTime)
        echo "    job $job_id rule=$rule state=$state gpu_request=${gpu_request:-none}" \
            "start=${start_time#*T} run_time=$(job_field "$record" RunTime)"
        if [[ $state != COMPLETED ]]; then
            log "job $job_id ($rule) ended $state; its log: $(job_field "$record" StdOut)"
            problems=$(( problems + 1 ))
        fi
        if { is_gpu_rule "$rule" && [[ $gpu_request != *gpu* ]]; } \
            || { ! is_gpu_rule "$rule" && [[ $gpu_request == *gpu* ]]; }; then
            log "job $job_id ($rule): GPU request '${gpu_request:-none}' does not match the profile"
            problems=$(( problems + 1 ))
        fi
    done < <(scontrol show job --oneliner | grep '^JobId=')
    (( problems == 0 )) || fail "$problems SLURM job(s) failed or got the wrong GPU request"
}

main() {
    [[ $EUID -eq 0 ]] || fail "must run as root (installs packages, starts munged, slurmctld and slurmd)"
    install_slurm
    GPU_RULES=" $(profile_gpu_rules | tr '\n' ' ') "
    CLUSTER_DIR=$(mktemp -d /tmp/scrobin-slurm-check.XXXXXX)
    chmod 0755 "$CLUSTER_DIR"
    trap on_exit EXIT
    trap 'exit 130' INT TERM
    write_cluster_config
    start_cluster
    run_workflow "$@"
    check_sbatch_calls
    check_job_records
    CHECK_PASSED=1
    log "PASS: workflow ran on SLURM, GPU requested exactly for GPU rules, all jobs completed"
}

main "$@"
