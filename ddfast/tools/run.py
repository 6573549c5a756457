"""``ddfast-run COMMAND [ARGS...]``: run a Python program traced, without changing its code (as
``ddtrace-run``): ``ddfast-run python app.py``, ``ddfast-run gunicorn app:app``,
``ddfast-run uvicorn app:app``.

It puts ``ddfast/tools/bootstrap`` first on ``PYTHONPATH``, so that every Python process the command starts
(forked workers included) patches the supported libraries at interpreter start, then replaces itself
with the command. Settings come from the environment (``DD_SERVICE``, ``DD_TRACE_AGENT_URL``...).
"""

import os
import shutil
import sys

import ddfast.tools.bootstrap

USAGE = "usage: ddfast-run COMMAND [ARGS...]   (for example: ddfast-run gunicorn app:app)\n"


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stderr.write(USAGE)
        return 0 if args else 2
    executable = shutil.which(args[0])
    if executable is None:
        sys.stderr.write("ddfast-run: command not found: %s\n" % args[0])
        return 127
    bootstrap = os.path.dirname(os.path.abspath(ddfast.tools.bootstrap.__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([bootstrap] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    os.execve(executable, args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
