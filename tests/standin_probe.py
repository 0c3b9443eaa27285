"""Start a stand-in (docker/standin) and ask it for paths; run by tests/test_e2e_standin.py, inside a network namespace
of its own where `unshare` allows one, so that the stand-ins' fixed ports (4000, 4001, 8080, 8081: the render's)
never meet another process of a shared machine.

    python -m tests.standin_probe '<json: {"root", "command", "env", "paths": [[port, path], ...]}>'

prints one JSON object: {"port path": HTTP status, ...}.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request


def status(port: int, path: str) -> int:
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.1)
    return 0  # nothing answered


def main(request: dict) -> dict:
    # A fresh network namespace has its loopback down; outside one, this fails harmlessly.
    subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    env = {"PATH": os.environ["PATH"], **request["env"]}
    process = subprocess.Popen(request["command"], cwd=request["root"], env=env, stdout=subprocess.DEVNULL)
    try:
        return {f"{port} {path}": status(port, path) for port, path in request["paths"]}
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
