// Post or edit one pull-request comment per stack from a directory of rendered files.
//
// Used by the workflow's comment jobs through actions/github-script, from a checkout of the base
// branch (never the pull request's own code: these jobs hold a token that may write comments).
//   COMMENTS  the directory: <stack>.md (a finished comment, first line `<!-- MARKER: stack -->`)
//             or <stack>.txt (a command's output, put in a code block under that marker)
//   MARKER    daktela-plan (scripts/pr_preview.py's comments) or daktela-pulumi-preview
// A file whose name is not a stack name (one word of letters, digits, '.', '_', '-': the same rule
// as components/matrix.py) is skipped and named in the log, so that an artifact cannot make this
// read anything outside the directory. An existing comment with the stack's marker is edited in
// place; otherwise one is created. Returns {created, updated, skipped} (stack names).
'use strict';

const fs = require('fs');
const path = require('path');

const STACK = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const LIMIT = 60000; // GitHub refuses a comment body over 65,536 characters

function bodies(dir, marker) {
  const found = [];
  const skipped = [];
  for (const file of fs.readdirSync(dir).sort()) {
    const match = file.match(/^(.*)\.(md|txt)$/);
    if (!match) continue;
    const [, stack, kind] = match;
    const head = `<!-- ${marker}: ${stack} -->`;
    if (!STACK.test(stack)) {
      skipped.push(file);
      continue;
    }
    let text = fs.readFileSync(path.join(dir, file), 'utf8');
    if (kind === 'md' && !text.startsWith(head)) {
      skipped.push(file);
      continue;
    }
    if (kind === 'txt') {
      let kept = text.replace(/\n$/, '');
      let cut = '';
      if (kept.length > LIMIT) { // the end says what failed: keep it, from a line's start
        kept = kept.slice(-LIMIT);
        kept = kept.slice(kept.indexOf('\n') + 1);
        cut = `(only the last lines: the whole output is in the job's log)\n`;
      }
      text = `${head}\n### \`pulumi preview\` of ${stack}\n\n${cut}\`\`\`\n${kept}\n\`\`\`\n`;
    }
    found.push({ stack, head, text });
  }
  return { found, skipped };
}

module.exports = async function post({ github, context, core }) {
  const { found, skipped } = bodies(process.env.COMMENTS, process.env.MARKER);
  for (const file of skipped) core.warning(`skipped ${file}: not a stack's comment`);
  const where = { owner: context.repo.owner, repo: context.repo.repo };
  const existing = await github.paginate(github.rest.issues.listComments, { ...where, issue_number: context.issue.number });
  const created = [];
  const updated = [];
  for (const { stack, head, text } of found) {
    const old = existing.find((c) => c.body && c.body.startsWith(head));
    if (old) {
      await github.rest.issues.updateComment({ ...where, comment_id: old.id, body: text });
      updated.push(stack);
    } else {
      await github.rest.issues.createComment({ ...where, issue_number: context.issue.number, body: text });
      created.push(stack);
    }
  }
  core.info(`comments: ${created.length} created, ${updated.length} updated, ${skipped.length} skipped`);
  return { created, updated, skipped };
};
