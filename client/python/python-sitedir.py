"""Print where the Python client's package is installed for PREFIX (run by
configure with the configured Python): the directory of this Python's
sys.path that lies under PREFIX/lib, as ${prefix}/lib/..., so that
`python3 -c 'import jqclient'` works after `make install` without
PYTHONPATH.  Debian's python3 reads /usr/local/lib/python3.X/dist-packages
(prefix /usr/local) and /usr/lib/python3/dist-packages (prefix /usr), not
the site-packages that automake's pythondir names.  Prints nothing when no
such directory exists (another prefix): configure then uses pythondir.

    python3 python-sitedir.py PREFIX
"""

import os
import sys

prefix = os.path.realpath(sys.argv[1])
for d in sys.path:
    if not d.endswith(("site-packages", "dist-packages")):
        continue
    rel = os.path.relpath(os.path.realpath(d), prefix)
    if rel.split(os.sep)[0] in ("lib", "lib64"):
        print("${prefix}/" + rel)
        break
