"""The team's workflows (.github/workflows/): valid against GitHub's schema, clean under zizmor's
strictest persona offline, least privilege job by job, every matrix batched; and the comment poster
they share, run by node against a double of GitHub's REST API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
INFRASTRUCTURE = REPO / ".github" / "workflows" / "infrastructure.yml"
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def zizmor(*paths: Path) -> list[dict]:
    """zizmor's findings, offline (no GitHub API), with its strictest persona (auditor)."""
    run = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "auditor", "--format", "json",
                          *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 11, 12, 13, 14), run.stderr  # 1x: findings of that top severity
    return json.loads(run.stdout)


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as true
    return workflow


def uses_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip().startswith(("uses:", "- uses:"))]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_validates_against_githubs_schema(path):
    schema = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing_and_nothing_is_suppressed_by_comments(path):
    assert zizmor(path) == []
    assert "zizmor: ignore" not in path.read_text()  # a finding that must stay would be explained there


def test_zizmor_would_find_what_the_old_workflow_had(tmp_path):
    """The check can fail: unpinned actions, a write token and a cloud identity for every job, the
    token left on disk, an expression inside a script."""
    old = tmp_path / "old.yml"
    old.write_text(textwrap.dedent("""\
        name: old
        on: pull_request
        permissions:
          contents: read
          pull-requests: write
          id-token: write
        jobs:
          plan:
            runs-on: ubuntu-24.04
            steps:
              - uses: actions/checkout@v4
              - run: git worktree add /tmp/base "${{ github.event.pull_request.head.ref }}"
        """))
    found = {f["ident"] for f in zizmor(old)}
    assert {"unpinned-uses", "excessive-permissions", "artipacked", "template-injection"} <= found, found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits_with_their_version_beside(path):
    lines = uses_lines(path)
    assert lines
    for line in lines:
        reference, _, comment = line.split("uses:", 1)[1].partition("#")
        assert PINNED.match(reference.strip()), line
        assert re.fullmatch(r"v\d+\.\d+\.\d+", comment.strip()), line


def test_each_job_has_only_what_it_uses_and_pull_request_code_never_holds_a_write_token():
    workflow = load(INFRASTRUCTURE)
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    granted = {name: job.get("permissions") for name, job in jobs.items()}
    assert all(isinstance(p, dict) and p for p in granted.values()), granted
    assert granted["offline-plan"] == {"contents": "read"}  # runs the pull request's code
    assert granted["pulumi-preview"] == {"contents": "read", "id-token": "write"}  # and the read-only role
    assert granted["comment"] == granted["preview-comment"] == {"pull-requests": "write"}
    writers = [name for name, p in granted.items() if "write" in {v for k, v in p.items() if k != "id-token"}]
    assert sorted(writers) == ["comment", "preview-comment"]
    for name in writers:  # they run no code of the pull request: the base branch's poster only
        checkouts = [s for s in jobs[name]["steps"] if s.get("uses", "").startswith("actions/checkout@")]
        assert [c["with"]["ref"] for c in checkouts] == ["${{ github.event.pull_request.base.sha }}"]
        assert all(s.get("run") is None for s in jobs[name]["steps"] if s.get("name") != "Fail on guardrail violations")
    for name, job in jobs.items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
    # the stacks' passphrase only in jobs of an environment; the preview only for this repository's branches
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if "secrets." in json.dumps(job):
                assert job.get("environment") in ("preview", "drift", "retention", "rollout"), (path.name, name)
    assert "head.repo.full_name == github.repository" in jobs["pulumi-preview"]["if"]


def test_every_stack_job_is_a_bounded_batch_and_runs_every_stack_of_it():
    jobs = load(INFRASTRUCTURE)["jobs"]
    for name in ("pulumi-preview", "drift", "retention"):
        matrix = jobs[name]["strategy"]["matrix"]
        assert set(matrix) == {"include"} and "outputs.batches" in matrix["include"], name
        script = next(s["run"] for s in jobs[name]["steps"] if "STACKS" in s.get("env", {}))
        assert jobs[name]["steps"][-1 if name != "pulumi-preview" else -2]["env"]["STACKS"] == "${{ matrix.stacks }}"
        assert "${{" not in script, name  # values reach scripts through the environment only
    assert "scripts/fleet_matrix.py --stacks-json" in jobs["offline-plan"]["steps"][-2]["run"]
    assert "scripts/fleet_matrix.py" in jobs["stacks"]["steps"][-1]["run"]
    drift = next(s["run"] for s in jobs["drift"]["steps"] if "STACKS" in s.get("env", {}))
    assert "scripts/fleet_run.py" in drift and "--expect-no-changes" in drift and "--policy-pack policy" in drift
    preview = next(s["run"] for s in jobs["pulumi-preview"]["steps"] if "STACKS" in s.get("env", {}))
    assert "--diff" in preview and "--out" in preview
    # the weekly prune: its own schedule, the password never on a command line nor left behind
    workflow = load(INFRASTRUCTURE)
    assert "37 5 * * 0" in [t["cron"] for t in workflow["on"]["schedule"]]
    assert "github.event.schedule == '37 5 * * 0'" in jobs["retention"]["if"]
    prune = jobs["retention"]["steps"][-1]["run"]
    assert "scripts/prune.py" in prune and "RESTIC_PASSWORD_FILE=" in prune and "umask 077" in prune
    assert 'rm -f "$RUNNER_TEMP/restic-password"' in prune
    offline = "\n".join(step.get("run", "") for step in jobs["offline-plan"]["steps"])
    assert "scripts/pr_preview.py" in offline


def test_fleet_run_goes_on_after_a_failure_and_fails_at_the_end(tmp_path):
    script = str(REPO / "scripts" / "fleet_run.py")
    env = {"PATH": "/usr/bin:/bin", "STACKS": "acme bad-one zeta"}
    run = subprocess.run([sys.executable, script, "--out", str(tmp_path), "--", "sh", "-c",
                          "echo planned {stack}; test {stack} != bad-one"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 1
    assert run.stdout.splitlines()[-3:] == ["acme: ok", "bad-one: FAILED (exit 1)", "zeta: ok"]
    assert "::group::zeta" in run.stdout and "1 of 3 stacks failed: bad-one" in run.stderr
    assert (tmp_path / "zeta.txt").read_text() == "planned zeta\n"
    hostile = subprocess.run([sys.executable, script, "--", "echo", "{stack}"], capture_output=True, text=True,
                             env={**env, "STACKS": "ok ../../x"}, timeout=60)
    assert hostile.returncode == 2 and "'../../x'" in hostile.stderr and "ok" not in hostile.stdout


POSTER_DOUBLE = """
// A double of the three REST calls the poster makes, as strict as GitHub about what it checks:
// the repository and pull request of every call, a body under 65,536 characters, a comment id that
// exists; paginate hands over every page.
const post = require(process.argv[2]);
const state = JSON.parse(require('fs').readFileSync(process.argv[3], 'utf8'));
const where = (p) => { if (p.owner !== 'team' || p.repo !== 'infra') throw new Error('wrong repository'); };
const body = (b) => { if (typeof b !== 'string' || b.length > 65536) throw new Error('body refused: ' + (b || '').length); };
const calls = [];
const github = {
  paginate: async (method, params) => method(params),
  rest: { issues: {
    listComments: (p) => { where(p); if (p.issue_number !== 7) throw new Error('wrong pull request'); return state.comments; },
    updateComment: async (p) => { where(p); body(p.body);
      const c = state.comments.find((x) => x.id === p.comment_id); if (!c) throw new Error('404'); c.body = p.body; calls.push(['update', p.comment_id]); },
    createComment: async (p) => { where(p); body(p.body); if (p.issue_number !== 7) throw new Error('wrong pull request');
      state.comments.push({ id: 100 + state.comments.length, body: p.body }); calls.push(['create', p.body.split('\\n')[0]]); },
  } },
};
const logged = [];
const core = { info: (m) => logged.push(m), warning: (m) => logged.push('warning: ' + m) };
post({ github, context: { repo: { owner: 'team', repo: 'infra' }, issue: { number: 7 } }, core })
  .then((result) => console.log(JSON.stringify({ result, calls, comments: state.comments, logged })))
  .catch((e) => { console.error(e.message); process.exit(1); });
"""


def run_poster(tmp_path: Path, files: dict[str, str], comments: list[dict], marker: str) -> dict:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is needed (apt-get install nodejs; .ci/run installs it)"
    directory = tmp_path / "comments"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    (tmp_path / "double.js").write_text(POSTER_DOUBLE)
    (tmp_path / "state.json").write_text(json.dumps({"comments": comments}))
    run = subprocess.run([node, str(tmp_path / "double.js"), str(REPO / ".github" / "scripts" / "post-comments.js"),
                          str(tmp_path / "state.json")], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "COMMENTS": str(directory), "MARKER": marker})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_poster_edits_its_own_comments_creates_the_rest_and_reads_nothing_outside(tmp_path):
    (tmp_path / "secret.md").write_text("<!-- daktela-plan: ../secret -->\nnot for the pull request")
    files = {"acme.md": "<!-- daktela-plan: acme -->\nnew plan of acme",
             "beta.md": "<!-- daktela-plan: beta -->\nplan of beta",
             "..md": "<!-- daktela-plan: . -->\nnot a stack",
             "gamma.md": "a comment without its marker", "stacks.json": "[]"}
    comments = [{"id": 1, "body": "<!-- daktela-plan: acme -->\nold plan of acme"}, {"id": 2, "body": "a person's comment"}]
    out = run_poster(tmp_path, files, comments, "daktela-plan")
    assert out["result"] == {"created": ["beta"], "updated": ["acme"], "skipped": ["..md", "gamma.md"]}
    assert out["comments"][0]["body"].endswith("new plan of acme") and out["comments"][1]["body"] == "a person's comment"
    assert not any("not for the pull request" in c["body"] for c in out["comments"])
    # a preview's output: in a code block under its marker, cut from the start to fit GitHub's limit
    long = "".join(f"line {n}\n" for n in range(20_000))
    out = run_poster(tmp_path, {"zeta.txt": long}, [], "daktela-pulumi-preview")
    created = out["comments"][-1]["body"]
    assert created.startswith("<!-- daktela-pulumi-preview: zeta -->\n### `pulumi preview` of zeta")
    assert len(created) < 65536 and created.endswith("line 19999\n```\n") and "in the job's log" in created
    assert "\n```\nline " in created  # the kept part starts at a line's start


def test_a_rollout_goes_wave_by_wave_behind_approvals_and_stops_at_the_first_failure():
    workflow = load(REPO / ".github" / "workflows" / "rollout.yml")
    assert workflow["permissions"] == {} and workflow["concurrency"]["cancel-in-progress"] is False
    assert set(workflow["on"]) == {"push", "workflow_dispatch"} and workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert {name: job["permissions"] for name, job in jobs.items()} == {
        "waves": {"contents": "read"}, "wave": {"contents": "read", "id-token": "write"}, "done": {"contents": "write"}}
    planning = jobs["waves"]["steps"][-1]["run"]
    assert "scripts/pr_preview.py" in planning and "--base" in planning and "rollout-done" in planning
    assert "scripts/rollout.py" in planning and "--from-wave" in planning and "${{" not in planning
    wave = jobs["wave"]
    assert wave["environment"] == "rollout" and "outputs.waves" in wave["strategy"]["matrix"]["include"]
    assert wave["strategy"]["max-parallel"] == 1 and wave["strategy"]["fail-fast"] is True
    up, health = wave["steps"][-2]["run"], wave["steps"][-1]["run"]
    assert "fleet_run.py --stop-at-first-failure" in up and "pulumi up --yes" in up and "--policy-pack policy" in up
    assert "--expect-no-changes" in health and "scripts/backup_status.py" in health
    assert all("${{" not in step.get("run", "") for step in wave["steps"])
    done = jobs["done"]
    assert not any(s.get("uses", "").startswith("actions/checkout@") for s in done["steps"])  # no code, only the tag
    assert "rollout-done" in done["steps"][0]["with"]["script"]
    assert "needs.wave.result == 'success'" in done["if"]
