"""The toolkit's version: what an installation runs, recorded by `pulumi up`.

Every stack exports it (`pulumi stack output toolkit_version`) and tags every AWS resource with it
(`daktela-toolkit-version`, through the regional providers' default tags), so that a rollout shows
which installations already run a change (scripts/fleet.py --state-dir, docs/operate.md, "Rolling
a change out").

Bump it in the pull request of any change that reaches installations (a component, a template, a
job): scripts/rollout.py refuses to roll out a change of the plans under an unchanged version,
because the record would then say nothing. A version is the day of the release and its number that
day, YYYY.MM.DD.N. Only the standard library: the workflow's planning reads it before installing.
"""

TOOLKIT_VERSION = "2026.12.02.2"
VERSION_TAG = "daktela-toolkit-version"
