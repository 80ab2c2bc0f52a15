"""Post feedback for a results JSON to GitHub (job summary, annotations, the Feedback pull request comment).

Not built yet: see the project's issues.
"""


def register(verbs):
    parser = verbs.add_parser("post", help="post feedback for a results JSON (not available yet)")
    parser.set_defaults(func=_not_yet)


def _not_yet(args):
    print("error: this command is not available yet", flush=True)
    return 2
