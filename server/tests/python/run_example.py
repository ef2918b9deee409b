"""Runs the Ziqx "Session Login" example (ziqx_session_login.py, kept as the documentation shows
it) against a Vestibule server. Only the host and the credentials are replaced.

The example leaves "Implement redirect logic in your app" to the reader. Here the test plays the
browser: just before the example validates, this script prints the login link and waits for one
line on stdin, which the test sends once it has completed the login. Afterwards the script prints
the validate answer.

Environment: VESTIBULE_URL, VESTIBULE_APP_KEY, VESTIBULE_APP_SECRET.
"""
import json
import os
import pathlib
import sys

import requests

here = pathlib.Path(__file__).parent
source = (here / "ziqx_session_login.py").read_text()
source = (
    source.replace("https://account.ziqx.cc", os.environ["VESTIBULE_URL"])
    .replace("your_app_key", os.environ["VESTIBULE_APP_KEY"])
    .replace("your_app_secret", os.environ["VESTIBULE_APP_SECRET"])
)

namespace = {}
real_post = requests.post


def post(url, *args, **kwargs):
    if url.endswith("/session/validate/"):
        print("LINK " + namespace["redirect_url"], flush=True)
        sys.stdin.readline()
    return real_post(url, *args, **kwargs)


requests.post = post
exec(compile(source, "ziqx_session_login.py", "exec"), namespace)
print("VALIDATED " + json.dumps(namespace["validate_response"].json()), flush=True)
