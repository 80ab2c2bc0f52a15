"""Write the student template and the grader bundle from this source repository.

Not built yet: see the project's issues.
"""


def register(verbs):
    parser = verbs.add_parser("release", help="write OUT/template and OUT/grader (not available yet)")
    parser.set_defaults(func=_not_yet)


def _not_yet(args):
    print("error: this command is not available yet", flush=True)
    return 2
