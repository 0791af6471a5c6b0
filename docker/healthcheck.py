"""Container health check: exit 0 only if GET /health answers 200 (database reachable and migrated)."""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("CIVICPAY_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as problem:
    sys.stderr.write(f"unhealthy: {problem}\n")
    sys.exit(1)
