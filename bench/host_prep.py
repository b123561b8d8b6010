#!/usr/bin/env python3
"""Host preparation of two fresh drives on the throwaway test host: our prepare-host against an
Ansible playbook doing the same work and against the floor (one hand-written shell script piped
through a single SSH connection). First run and no-change re-run; SSH sessions counted from the
test sshd's log (one per command; Ansible's ControlPersist shares one connection too).

    .venv/bin/python bench/host_prep.py [--repeats 5]     (root; `make bench` installs the peers)

Every contender runs as a whole process, as a person runs it: ours is `scripts/prepare_host.py`
with a stack file for the throwaway host (its interpreter start and imports included), the floor
`ssh ... sudo bash -s`, Ansible `ansible-playbook`. The order rotates each round; min, median and
max are kept.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, median, save, timed

from tests.hosttest import USER, ThrowawayHost
from tests.test_prepare_host_script import stack_for

ANSIBLE = ROOT / ".venv" / "bin" / "ansible-playbook"

FLOOR = r"""set -e
prepare() {  # device mount label fstype
  dev=$1; mp=$2; label=$3; fs=$4
  if mountpoint -q "$mp"; then return 0; fi
  printf 'label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q "$dev"
  partx -u "$dev" 2>/dev/null || partx -a "$dev"
  part="${dev}p1"
  if [ "$fs" = ext4 ]; then mkfs.ext4 -q -L "$label" "$part"; else mkfs.xfs -q -L "$label" "$part"; fi
  uuid=$(blkid -p -o value -s UUID "$part")
  mkdir -p "$mp"
  echo "UUID=$uuid $mp $fs defaults,nofail,x-systemd.device-timeout=30s 0 2" >> /etc/fstab
  mount "$mp"
}
prepare {op_dev} {op_mp} daktela-op ext4
prepare {ar_dev} {ar_mp} daktela-arch xfs
install -d -m 0755 {op_mp}/application; install -d -m 0700 {op_mp}/database
install -d -m 0750 {op_mp}/attachments {op_mp}/recordings {ar_mp}/attachments {ar_mp}/recordings
"""

PLAYBOOK = """
- hosts: customer
  become: true
  gather_facts: false
  vars:
    drives:
      - {{ dev: "{op_dev}", mp: "{op_mp}", fs: ext4, label: daktela-op }}
      - {{ dev: "{ar_dev}", mp: "{ar_mp}", fs: xfs, label: daktela-arch }}
  tasks:
    - name: partition
      community.general.parted: {{ device: "{{{{ item.dev }}}}", label: gpt, number: 1, state: present, part_start: 1MiB }}
      loop: "{{{{ drives }}}}"
    - name: make the kernel see the partitions
      ansible.builtin.command: partx -u {{{{ item.dev }}}}
      loop: "{{{{ drives }}}}"
      changed_when: false
    - name: filesystem
      community.general.filesystem: {{ dev: "{{{{ item.dev }}}}p1", fstype: "{{{{ item.fs }}}}", opts: "-L {{{{ item.label }}}}" }}
      loop: "{{{{ drives }}}}"
    - name: uuid
      ansible.builtin.command: blkid -p -o value -s UUID {{{{ item.dev }}}}p1
      loop: "{{{{ drives }}}}"
      register: uuids
      changed_when: false
    - name: mount
      ansible.posix.mount:
        path: "{{{{ item.0.mp }}}}"
        src: "UUID={{{{ item.1.stdout }}}}"
        fstype: "{{{{ item.0.fs }}}}"
        opts: defaults,nofail,x-systemd.device-timeout=30s
        state: mounted
      loop: "{{{{ drives | zip(uuids.results) | list }}}}"
    - name: directories
      ansible.builtin.file: {{ path: "{{{{ item.0 }}}}", state: directory, mode: "{{{{ item.1 }}}}" }}
      loop:
        - ["{op_mp}/application", "0755"]
        - ["{op_mp}/database", "0700"]
        - ["{op_mp}/attachments", "0750"]
        - ["{op_mp}/recordings", "0750"]
        - ["{ar_mp}/attachments", "0750"]
        - ["{ar_mp}/recordings", "0750"]
"""


def sessions(host: ThrowawayHost) -> int:
    return host.log().count("Starting session")


def values(host: ThrowawayHost) -> dict:
    return {"op_dev": host.drives["operational"].device, "ar_dev": host.drives["archive"].device,
            "op_mp": host.mount_point("operational"), "ar_mp": host.mount_point("archive")}


def run_ours(host: ThrowawayHost, work: Path) -> tuple[float, int]:
    stack, key = stack_for(host, work)
    before = sessions(host)
    seconds, result = timed(lambda: subprocess.run([sys.executable, str(ROOT / "scripts" / "prepare_host.py"), stack,
                                                    "--key", key], capture_output=True, text=True,
                                                   stdin=subprocess.DEVNULL, timeout=600))
    assert result.returncode == 0, result.stdout + result.stderr
    return seconds, sessions(host) - before


def ssh_base(host: ThrowawayHost, key: Path) -> list[str]:
    return ["ssh", "-i", str(key), "-p", str(host.port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"{USER}@127.0.0.1"]


def run_floor(host: ThrowawayHost, key: Path) -> tuple[float, int]:
    script = FLOOR
    for name, value in values(host).items():  # the script's own braces stay as they are
        script = script.replace("{" + name + "}", value)
    before = sessions(host)
    seconds, result = timed(lambda: subprocess.run([*ssh_base(host, key), "sudo", "bash", "-s"], input=script,
                                                   capture_output=True, text=True))
    assert result.returncode == 0, result.stderr
    return seconds, sessions(host) - before


def run_ansible(host: ThrowawayHost, key: Path, workdir: Path) -> tuple[float, int]:
    (workdir / "inventory").write_text(
        f"[customer]\n127.0.0.1 ansible_port={host.port} ansible_user={USER} ansible_ssh_private_key_file={key} "
        "ansible_python_interpreter=/usr/bin/python3\n")
    (workdir / "play.yml").write_text(PLAYBOOK.format(**values(host)))
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null",
           "ANSIBLE_CONTROL_PATH_DIR": str(workdir / "cp"), "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
           "ANSIBLE_REMOTE_TEMP": "/tmp/.ansible-bench"}  # the test user's home is /
    before = sessions(host)
    seconds, result = timed(lambda: subprocess.run([str(ANSIBLE), "-i", str(workdir / "inventory"), str(workdir / "play.yml")],
                                                   capture_output=True, text=True, env=env))
    assert result.returncode == 0, result.stdout[-3000:]
    subprocess.run(["ssh", "-O", "exit", "-o", f"ControlPath={workdir}/cp/%C", "-p", str(host.port), f"{USER}@127.0.0.1"],
                   capture_output=True)
    host.run("rm -rf /tmp/.ansible-bench")  # the namespace shares /tmp with the machine
    return seconds, sessions(host) - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, dict[str, list]] = {name: {"first": [], "rerun": [], "first_sessions": [], "rerun_sessions": []}
                                           for name in ("ours", "floor", "ansible")}
    names = list(results)
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:  # rotating order
            with tempfile.TemporaryDirectory() as tmp:
                host = ThrowawayHost(Path(tmp) / "host").start()
                try:
                    key = Path(tmp) / "key"
                    key.write_text(host.client_key)
                    key.chmod(0o600)
                    work = Path(tmp) / "work"
                    (work / "cp").mkdir(parents=True)
                    runner = {"ours": lambda: run_ours(host, work), "floor": lambda: run_floor(host, key),
                              "ansible": lambda: run_ansible(host, key, work)}[name]
                    for phase in ("first", "rerun"):
                        seconds, count = runner()
                        results[name][phase].append(seconds)
                        results[name][f"{phase}_sessions"].append(count)
                finally:
                    host.stop()
    summary = {name: {key: (round(median(v), 3) if "sessions" not in key else max(v)) for key, v in r.items()}
               for name, r in results.items()}
    spread = {name: {phase: [round(min(r[phase]), 3), round(max(r[phase]), 3)] for phase in ("first", "rerun")}
              for name, r in results.items()}
    summary["ratios"] = {
        "ours_first_vs_floor": round(summary["ours"]["first"] / summary["floor"]["first"], 2),
        "ours_first_vs_ansible": round(summary["ours"]["first"] / summary["ansible"]["first"], 3),
        "ours_rerun_vs_ansible": round(summary["ours"]["rerun"] / summary["ansible"]["rerun"], 3),
    }
    save("host_prep", {"repeats": args.repeats, **summary, "seconds_min_max": spread,
                       "command": "python bench/host_prep.py"})


if __name__ == "__main__":
    main()
