"""Grade many student clones into a gradebook.

Not built yet: see the project's issues.
"""


def register(verbs):
    parser = verbs.add_parser("regrade", help="grade many student clones into a gradebook CSV (not available yet)")
    parser.set_defaults(func=_not_yet)


def _not_yet(args):
    print("error: this command is not available yet", flush=True)
    return 2
